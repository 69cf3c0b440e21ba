// The dashboard's own behaviour, all of it in this one file so the Content-Security-Policy can
// refuse every inline script and handler:
// - a button with data-copy="ID" copies the value of the field #ID;
// - Parley in the open tab: installs the service worker, keeps the title's count of waiting
//   questions live ("(3) Parley") from /events/waiting, shows a browser notification when a
//   question arrives while the tab is hidden, and runs the settings page's "Notify this device" and
//   "Notify me in this tab" buttons. Permission is only ever asked from one of those buttons.
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null
  if (!button) return
  const source = document.getElementById(button.getAttribute('data-copy') || '')
  if (!source || !('value' in source)) return
  navigator.clipboard.writeText(source.value).then(() => {
    button.textContent = 'Copied'
  })
})

;(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content')
  const status = document.getElementById('push-status')
  const say = (text) => {
    if (status) status.textContent = text
  }

  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {})
  if (!csrf) return // not logged in: nothing waits

  const baseTitle = document.title.replace(/^\(\d+\) /, '')
  // Question ids are UUIDv7, ordered by time: only a newer one than any seen is news.
  let seen = null
  const notifyIfHidden = (newest) => {
    const fresh = newest && seen !== null && newest.id > seen
    if (newest && (seen === null || newest.id > seen)) seen = newest.id
    if (seen === null) seen = ''
    if (!fresh || !document.hidden || !('Notification' in window) || Notification.permission !== 'granted')
      return
    const n = new Notification(newest.title, {
      body: newest.body,
      tag: `q-${newest.id}`,
      icon: '/icons/icon-192.png',
    })
    n.onclick = () => {
      window.focus()
      window.location.href = newest.url
    }
  }
  const apply = (state) => {
    document.title = state.count > 0 ? `(${state.count}) ${baseTitle}` : baseTitle
    document.documentElement.dataset.waiting = String(state.count)
    notifyIfHidden(state.newest)
  }
  // One stream per browser, not per tab (browsers allow six connections to a host over HTTP/1.1):
  // the tab holding the lock listens and tells the others; a new tab asks it for the last state.
  const tabs = 'BroadcastChannel' in window ? new BroadcastChannel('parley-waiting') : null
  let last = null
  tabs?.addEventListener('message', (e) => {
    if (e.data === 'hello') {
      if (last) tabs.postMessage(last)
    } else apply(e.data)
  })
  const listen = () =>
    new Promise(() => {
      const events = new EventSource('/events/waiting')
      events.onmessage = (e) => {
        last = JSON.parse(e.data)
        apply(last)
        tabs?.postMessage(last)
      }
    })
  if (navigator.locks && tabs) {
    navigator.locks.request('parley-waiting', listen)
    tabs.postMessage('hello')
  } else listen()

  const tabButton = document.getElementById('tab-notify')
  if (tabButton && 'Notification' in window && Notification.permission !== 'granted') {
    tabButton.hidden = false
    tabButton.addEventListener('click', async () => {
      const permission = await Notification.requestPermission()
      say(
        permission === 'granted'
          ? 'This tab will tell you when a question arrives.'
          : 'Notifications are blocked.',
      )
      if (permission === 'granted') tabButton.hidden = true
    })
  }

  const pushButton = document.getElementById('push-subscribe')
  if (!pushButton || !('serviceWorker' in navigator) || !('PushManager' in window)) return
  const keyBytes = (base64url) => {
    const raw = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'))
    return Uint8Array.from(raw, (c) => c.charCodeAt(0))
  }
  const json = { 'content-type': 'application/json', 'x-csrf-token': csrf }
  pushButton.hidden = false
  navigator.serviceWorker.ready.then(async (reg) => {
    const current = await reg.pushManager.getSubscription()
    if (!current) return
    for (const li of document.querySelectorAll('[data-endpoint]')) {
      if (li.getAttribute('data-endpoint') === current.endpoint) {
        const badge = document.createElement('span')
        badge.className = 'badge ok'
        badge.textContent = 'this device'
        li.querySelector('strong')?.after(' ', badge)
      }
    }
  })
  pushButton.addEventListener('click', async () => {
    try {
      if ((await Notification.requestPermission()) !== 'granted') return say('Notifications are blocked.')
      const reg = await navigator.serviceWorker.ready
      const { publicKey } = await (await fetch('/push/key')).json()
      const sub = await reg.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(publicKey),
      })
      const res = await fetch('/push/subscriptions', {
        method: 'POST',
        headers: json,
        body: JSON.stringify(sub),
      })
      if (!res.ok) return say(`Could not subscribe (HTTP ${res.status}).`)
      say('This device gets notifications now.')
      window.location.reload()
    } catch (err) {
      say(`Could not subscribe: ${err.message}`)
    }
  })
})()
