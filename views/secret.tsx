// A secret shown exactly once (a new API key, a link code) with a copy button. The button needs
// JavaScript (views/parley.js); without it the text is in a read-only field, ready to select and copy.

export const formatTime = (d: Date | string | null | undefined) =>
  d ? `${new Date(d).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never'

export function TimeText({ value }: { value: Date | string | null | undefined }) {
  if (!value) return <span class="muted">never</span>
  return (
    <time datetime={new Date(value).toISOString()} safe>
      {formatTime(value)}
    </time>
  )
}

export function SecretOnce(props: { id: string; label: string; value: string }) {
  return (
    <div class="field">
      <label for={props.id} safe>
        {props.label}
      </label>
      <div class="secret">
        <input
          id={props.id}
          readonly
          value={props.value}
          size={String(Math.min(60, props.value.length + 2))}
        />
        <button
          id={`${props.id}-copy`}
          type="button"
          class="secondary"
          aria-label={`Copy ${props.label.toLowerCase()}`}
          data-copy={props.id}
        >
          Copy
        </button>
      </div>
    </div>
  )
}
