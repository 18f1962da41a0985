// Links that ask before they download. A shared address (zs= / ft=) that names a host none of the
// presets uses, and that is not this site's, shows that host, the files and their sizes (a HEAD
// request each) and downloads only after a click; the presets' hosts (huggingface.co) and the
// site's own files load at once. Hosts are compared by name: the site's host name on another
// port counts as the site's. Everything a link brings is shown as text, never as markup.

import { $, el, mb, resolveUrl, shortName } from './dom.js';
import { allPresets, presetModel } from './presets.js';
import { hubIdUrls } from './hub.js';
import { chosenUrls, hasLocalFiles } from './models.js';
import { moreFineTunes } from './recipe.js';
import { setModelStatus } from './messages.js';

/** @param {string} url @returns {string} its host name, '' when it is not an address */
function hostName(url) {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/** Host names that load without asking: this site's and every preset's. */
export function trustedHosts() {
  const hosts = new Set([location.hostname.toLowerCase()]);
  for (const p of allPresets()) {
    for (const ref of [p.zero_shot, p.fine_tuned, ...(p.more_fine_tuned || [])]) {
      for (const u of presetModel(ref)?.urls || []) hosts.add(hostName(resolveUrl(u)));
    }
  }
  hosts.delete('');
  return hosts;
}

/**
 * The chosen checkpoints that come from a host the page does not know: {role, url, host}.
 * A hub id counts as huggingface.co (its addresses are the hub's); local files never ask.
 */
export function untrustedFiles() {
  const trusted = trustedHosts();
  const { zs, ft } = chosenUrls();
  const chosen = [
    ['zero-shot', hasLocalFiles('zero-shot') ? '' : zs],
    ['fine-tuned', hasLocalFiles('fine-tuned') ? '' : ft],
    ...moreFineTunes().map((m, i) => [`fine-tune ${i + 2}`, m]),
  ];
  const out = [];
  for (const [role, input] of chosen) {
    if (!input) continue;
    const url = (hubIdUrls(input) ?? [resolveUrl(input)])[0];
    const host = hostName(url);
    if (!trusted.has(host)) out.push({ role, url, host: host || url });
  }
  return out;
}

/** The size of `url` from a HEAD request, as text ("605.0 MB", or why it is unknown). */
async function sizeOf(url) {
  try {
    const r = await fetch(url, { method: 'HEAD', mode: 'cors', signal: AbortSignal.timeout(15000) });
    if (!r.ok) return `size unknown (HTTP ${r.status})`;
    const n = Number(r.headers.get('content-length'));
    return Number.isFinite(n) && n > 0 ? mb(n) : 'size unknown (not announced)';
  } catch (e) {
    return `size unknown (the host did not answer a HEAD request: ${/** @type {Error} */ (e).message})`;
  }
}

/**
 * Loads the chosen models at once when they come from known hosts; else shows what the link
 * would download, and loads only when the person clicks.
 * @param {() => void} load
 */
export function loadOrAsk(load) {
  const files = untrustedFiles();
  if (!files.length) {
    load();
    return;
  }
  const hosts = [...new Set(files.map((f) => f.host))];
  const rows = files.map((f) => {
    const size = el('span', { class: 'link-size', text: 'size: asking the host …' });
    const row = el('li', { class: 'link-file', 'data-url': f.url }, el('b', { text: `${f.role}: ` }), el('span', { class: 'link-name', text: shortName(f.url) }), ' · ', size, el('br'), el('code', { text: f.url }));
    sizeOf(f.url).then((s) => {
      size.textContent = s;
      row.dataset.size = s;
    });
    return row;
  });
  const go = el('button', { id: 'link-go', type: 'button', text: 'Download and load' });
  const no = el('button', { id: 'link-no', type: 'button', text: 'Do not download' });
  const box = el(
    'div',
    { id: 'link-confirm', class: 'msg warn link-confirm', role: 'alertdialog', 'data-hosts': hosts.join(' ') },
    el('p', { text: `This link downloads checkpoints from ${hosts.length > 1 ? 'hosts' : 'a host'} that none of this page's presets uses: ${hosts.join(', ')}. Download only from hosts you trust.` }),
    el('ul', {}, ...rows),
    el('p', { class: 'buttons' }, go, ' ', no),
  );
  const close = () => box.remove();
  go.onclick = () => {
    close();
    load();
  };
  no.onclick = () => {
    close();
    setModelStatus('Nothing was downloaded. Check the addresses under "Custom URLs", or choose a preset, then press Load models.');
  };
  $('link-confirm')?.remove();
  $('model-status').before(box);
  // Pressing Load models answers the question too.
  $('load').addEventListener('click', close, { once: true });
  setModelStatus(`Waiting for your answer: download from ${hosts.join(', ')}?`);
}
