// The hub the page downloads hub files from: huggingface.co, or a mirror the person set (kept in
// this browser's localStorage). Presets, the fields and shared links keep huggingface.co
// addresses or hub ids; the mirror is applied only when a download starts, so a link works for
// everyone whatever mirror its sender uses. The CLI's counterpart is HF_ENDPOINT.

const KEY = 'wiseft.hub-endpoint';
export const DEFAULT_HUB = 'https://huggingface.co';

/** `https://host[:port][/path]` without a trailing `/`; null for anything else. */
function normalise(v) {
  if (!v) return null;
  try {
    const u = new URL(v.trim());
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
    if (u.search || u.hash || u.username) return null;
    return `${u.origin}${u.pathname}`.replace(/\/+$/, '');
  } catch {
    return null;
  }
}

/** The endpoint in use: the remembered mirror, else huggingface.co. */
export function hubEndpoint() {
  try {
    return normalise(localStorage.getItem(KEY)) || DEFAULT_HUB;
  } catch {
    return DEFAULT_HUB; // storage blocked: no mirror
  }
}

/**
 * Remembers `value` as the hub endpoint (empty: back to huggingface.co).
 * @returns {string} the endpoint now in use
 * @throws {Error} when `value` is not an http(s) address
 */
export function setHubEndpoint(value) {
  const v = (value || '').trim();
  const endpoint = v ? normalise(v) : DEFAULT_HUB;
  if (!endpoint) throw new Error(`"${v}" is not a hub address: give one such as https://hf-mirror.com`);
  try {
    if (endpoint === DEFAULT_HUB) localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, endpoint);
  } catch {
    throw new Error('this browser does not let the page remember a hub address (storage is blocked)');
  }
  return endpoint;
}

/** A huggingface.co address moved to the mirror; any other address as it is. */
export function viaHub(url) {
  const endpoint = hubEndpoint();
  if (endpoint === DEFAULT_HUB || !url.startsWith(`${DEFAULT_HUB}/`)) return url;
  return endpoint + url.slice(DEFAULT_HUB.length);
}

const NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?';
const HUB_ID = new RegExp(`^(${NAME})/(${NAME})(?:@([^@\\s]+))?$`);
const FILE_ENDINGS = /\.(safetensors|bin|pt|pth|ckpt|json|zip)$/i;

/**
 * The weights addresses of a hub id `owner/name[@revision]` (model.safetensors, then
 * pytorch_model.bin), as huggingface.co addresses; null when `s` is not shaped like a hub id
 * (the same rule as the CLI's: a name ending like a file is a path, not an id).
 * @returns {string[]|null}
 */
export function hubIdUrls(s) {
  const m = HUB_ID.exec(s.trim());
  if (!m || FILE_ENDINGS.test(m[2]) || m[0].includes('--') || m[0].includes('..')) return null;
  const [, owner, name, revision = 'main'] = m;
  const base = `${DEFAULT_HUB}/${owner}/${name}/resolve/${encodeURIComponent(revision)}`;
  return [`${base}/model.safetensors`, `${base}/pytorch_model.bin`];
}
