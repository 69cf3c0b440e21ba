// Password hashing for web accounts and the CLI: Bun.password with argon2id, in one place so the
// algorithm and its parameters cannot drift between the sign-up page and `parley users create`.

/** A hash of a password nobody knows, verified when the email is unknown so that a wrong email
 * takes as long as a wrong password and the timing tells nothing about which accounts exist. */
let decoy: Promise<string> | null = null

export const MIN_PASSWORD_LENGTH = 8

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: 'argon2id' })
}

export async function verifyPassword(password: string, hash: string | null | undefined): Promise<boolean> {
  if (!hash) {
    decoy ??= hashPassword(crypto.randomUUID())
    await Bun.password.verify(password, await decoy).catch(() => false)
    return false
  }
  return Bun.password.verify(password, hash).catch(() => false)
}
