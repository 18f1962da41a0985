// The service worker of "Prepare for offline" (www/offline.js registers it; trunk copies it to the
// site's root, so that its scope is the whole site). It answers the site's own files from the copy
// that the page stored in a cache named `wiseft-site-<version>` (the files of site-files.json, which
// scripts/site-manifest.sh writes at build time); everything else — checkpoints, which the engine
// keeps in its own cache `wiseft-models-v1` (src/web/fetch.rs), ranged requests, other origins —
// goes to the network as if there were no service worker.
//
// Cache first: in a lecture hall a slow network must not slow the page. Updates are the page's job:
// online, it compares the stored version with the site's and stores the new copy under a new name
// before it deletes the old one (www/offline.js); this worker never deletes a cache, and never
// touches the model cache.

const SITE_CACHE = 'wiseft-site-';
/** The file list, stored last: a cache holding it is complete. */
const MANIFEST = 'site-files.json';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || req.headers.has('range')) return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || /\.(safetensors|bin)$/.test(url.pathname)) return;
  event.respondWith(answer(req));
});

/** The stored copy of a site file, else the network. */
async function answer(req) {
  const scope = self.registration.scope;
  // A visit (with any query: the shared state lives there) is index.html.
  const key = req.mode === 'navigate' ? new URL('index.html', scope).href : req.url;
  for (const name of await completeCaches()) {
    const cache = await caches.open(name);
    const hit = await cache.match(key, { ignoreSearch: req.mode === 'navigate' });
    if (hit) return hit;
  }
  return fetch(req);
}

/** The stored copies that were finished, the newest first (caches.keys() lists them in the order
 *  they were made); there are two only while the page stores an update. */
async function completeCaches() {
  const names = (await caches.keys()).filter((n) => n.startsWith(SITE_CACHE));
  const done = [];
  for (const name of names) {
    const cache = await caches.open(name);
    if (await cache.match(new URL(MANIFEST, self.registration.scope).href)) done.push(name);
  }
  return done.reverse();
}
