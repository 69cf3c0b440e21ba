// Form pieces shared by the dashboard pages: every control has a visible label, errors are
// announced to screen readers and say which field is wrong.

export function TextField(props: {
  label: string
  name: string
  type?: 'text' | 'email' | 'password' | 'time'
  value?: string | null
  autocomplete?: string
  required?: boolean
  hint?: string
  maxlength?: number
}) {
  const id = `f-${props.name}`
  return (
    <div class="field">
      <label for={id} safe>
        {props.label}
      </label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? 'text'}
        value={props.value ?? undefined}
        autocomplete={props.autocomplete}
        required={props.required}
        maxlength={props.maxlength}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
      />
      {props.hint ? (
        <p class="hint" id={`${id}-hint`} safe>
          {props.hint}
        </p>
      ) : (
        ''
      )}
    </div>
  )
}

export function ErrorBox({ message }: { message?: string | null }) {
  if (!message) return ''
  return (
    <p class="error" role="alert" safe>
      {message}
    </p>
  )
}

export function Notice({ message }: { message?: string | null }) {
  if (!message) return ''
  return (
    <p class="notice" role="status" safe>
      {message}
    </p>
  )
}
