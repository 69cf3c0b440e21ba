// Log-in and sign-up pages. Plain forms that work without JavaScript; errors are generic where
// detail would tell a stranger which accounts exist.
import type { Children } from '@kitajs/html'
import { ErrorBox, TextField } from './forms.tsx'
import { CsrfField, Layout } from './layout.tsx'

/** A narrow page with one account form: its heading, the error if any, and where to go after. */
function AccountForm(props: {
  title: string
  heading: string
  action: string
  next: string
  /** The form's CSRF token (bound to the parley_csrf cookie: there is no session yet). */
  csrfToken: string
  error?: string | null
  email?: string
  emailAutocomplete: string
  children?: Children
  footer?: Children
}) {
  return (
    <Layout title={props.title}>
      <section class="narrow">
        <h1 safe>{props.heading}</h1>
        <ErrorBox message={props.error} />
        <form method="post" action={props.action} class="stack">
          <CsrfField token={props.csrfToken} />
          <input type="hidden" name="next" value={props.next} />
          <TextField
            label="Email"
            name="email"
            type="email"
            value={props.email}
            autocomplete={props.emailAutocomplete}
            required
          />
          {props.children}
        </form>
        {props.footer}
      </section>
    </Layout>
  )
}

export function LoginPage(props: {
  next: string
  csrfToken: string
  email?: string
  error?: string | null
  signup: boolean
}) {
  const footer = props.signup ? (
    <p>
      New here? <a href={`/signup?next=${encodeURIComponent(props.next)}`}>Create an account</a>.
    </p>
  ) : (
    ''
  )
  return (
    <AccountForm
      title="Log in"
      heading="Log in"
      action="/login"
      next={props.next}
      csrfToken={props.csrfToken}
      error={props.error}
      email={props.email}
      emailAutocomplete="username"
      footer={footer}
    >
      <TextField label="Password" name="password" type="password" autocomplete="current-password" required />
      <button type="submit">Log in</button>
    </AccountForm>
  )
}

export function SignupPage(props: {
  enabled: boolean
  next: string
  csrfToken: string
  email?: string
  displayName?: string
  error?: string | null
}) {
  if (!props.enabled) {
    return (
      <Layout title="Sign up">
        <section class="narrow">
          <h1>Sign-up is turned off</h1>
          <p>
            This Parley server does not accept new accounts. Ask its administrator for one, then{' '}
            <a href="/login">log in</a>.
          </p>
        </section>
      </Layout>
    )
  }
  const footer = (
    <p>
      Already have an account? <a href="/login">Log in</a>.
    </p>
  )
  return (
    <AccountForm
      title="Sign up"
      heading="Create an account"
      action="/signup"
      next={props.next}
      csrfToken={props.csrfToken}
      error={props.error}
      email={props.email}
      emailAutocomplete="email"
      footer={footer}
    >
      <TextField
        label="Display name (optional)"
        name="display_name"
        value={props.displayName}
        autocomplete="name"
        maxlength={100}
      />
      <TextField
        label="Password"
        name="password"
        type="password"
        autocomplete="new-password"
        required
        hint="At least 8 characters."
      />
      <button type="submit">Create account</button>
    </AccountForm>
  )
}

export function ThrottledPage({ seconds }: { seconds: number }) {
  return (
    <Layout title="Too many attempts">
      <section class="narrow">
        <h1>Too many failed log-ins</h1>
        <p safe>{`Wait ${seconds} second${seconds === 1 ? '' : 's'}, then try again.`}</p>
        <p>
          <a href="/login">Back to log in</a>
        </p>
      </section>
    </Layout>
  )
}
