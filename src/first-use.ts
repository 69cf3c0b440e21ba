// Things made on first use (libraries only some deployments need, the API docs) and kept after.
// A failure is not kept: the next use tries again instead of failing until a restart.

/** `make` run once, on the first call, its promise shared by every caller; again after a failure. */
export function onFirstUse<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | null = null
  return () => {
    made ??= make().catch((err) => {
      made = null
      throw err
    })
    return made
  }
}
