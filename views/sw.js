// Parley's service worker: shows web push notifications (DESIGN.md "Web push"), answers from their
// buttons with the notification's single-use answer link, opens the question when the body is
// tapped, and shows "You are offline" instead of a browser error when a page cannot load.
const CACHE = 'parley-shell-v1'
const OFFLINE_URL = '/offline'
const SHELL = [OFFLINE_URL, '/assets/parley.css', '/icons/icon-192.png', '/favicon.svg']

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const { request } = event
  if (request.mode === 'navigate') {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)))
  } else if (request.method === 'GET' && SHELL.includes(new URL(request.url).pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(request)))
  }
})

function show(data) {
  return self.registration.showNotification(data.title || 'Parley', {
    body: data.body || '',
    tag: data.tag,
    renotify: Boolean(data.answer_url),
    silent: Boolean(data.silent),
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-192.png',
    actions: Array.isArray(data.actions) ? data.actions : [],
    data: { url: data.url || '/', answer_url: data.answer_url || null, title: data.title },
  })
}

self.addEventListener('push', (event) => {
  let data = {}
  try {
    data = event.data ? event.data.json() : {}
  } catch {
    data = { body: event.data ? event.data.text() : '' }
  }
  event.waitUntil(show(data))
})

async function answer(notification, action) {
  const { answer_url: answerUrl, url, title } = notification.data || {}
  let text = 'Sent.'
  try {
    const res = await fetch(answerUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action }),
    })
    const body = await res.json().catch(() => ({}))
    text = res.ok
      ? `Answered: ${body.answer ?? action}`
      : (body.error?.message ?? `Not sent (HTTP ${res.status})`)
  } catch {
    text = 'Not sent: you are offline. Open Parley to answer.'
  }
  // Replace the question (same tag) with what happened; the server's own update follows.
  await show({ title, body: text, url, tag: notification.tag, actions: [], silent: true })
}

async function open(url) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
  const same = windows.find((w) => new URL(w.url).pathname === new URL(url, self.location.origin).pathname)
  if (same) {
    await same.focus()
    return same.navigate(url)
  }
  return self.clients.openWindow(url)
}

self.addEventListener('notificationclick', (event) => {
  const { notification, action } = event
  notification.close()
  if (action && notification.data?.answer_url) event.waitUntil(answer(notification, action))
  else event.waitUntil(open(notification.data?.url || '/'))
})
