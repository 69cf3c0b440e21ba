// The dashboard's own behaviour, kept in a file so the Content-Security-Policy can refuse every
// inline script and handler: a button with data-copy="ID" copies the value of the field #ID.
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null
  if (!button) return
  const source = document.getElementById(button.getAttribute('data-copy') || '')
  if (!source || !('value' in source)) return
  navigator.clipboard.writeText(source.value).then(() => {
    button.textContent = 'Copied'
  })
})
