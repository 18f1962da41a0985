// A small static HTTP server for the end-to-end tests: serves a folder (the built site, or the
// fixture checkpoints) with Range support, CORS headers for cross-origin plain GETs, request
// counting, and a few deliberately broken routes. Only files under the root are served.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

/**
 * @param {object} opts
 * @param {string} opts.root folder to serve
 * @param {boolean} [opts.cors] send Access-Control-Allow-Origin: *
 * @param {Record<string, (req, res, ctx) => void>} [opts.routes] exact paths handled specially
 * @param {boolean} [opts.isolated] send COOP same-origin + COEP credentialless, as scripts/serve.sh
 *   does (the default): the page is then cross-origin isolated and runs the threaded CPU engine;
 *   false serves it as a host without those headers does (one thread)
 * @param {number} [opts.port] 0: any free port (a test that stops a server and starts another at
 *   the same origin gives the first one's)
 * @returns {Promise<{url: string, port: number, count: (p: string) => number, requests: string[], close: () => Promise<void>}>}
 */
export async function serve({ root, cors = false, isolated = true, routes = {}, port: wanted = 0 }) {
  root = path.resolve(root);
  const counts = new Map();
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const p = decodeURIComponent(url.pathname);
    requests.push(`${req.method} ${p}${req.headers.range ? ` (${req.headers.range})` : ''}`);
    if (req.method === 'GET') counts.set(p, (counts.get(p) || 0) + 1);
    if (cors) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Allow-Headers', 'Range');
      res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, ETag');
    }
    res.setHeader('Cache-Control', 'no-store');
    if (isolated) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'credentialless');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (routes[p]) {
      routes[p](req, res, { root, file: (rel) => fs.readFileSync(path.join(root, rel)) });
      return;
    }
    let file = path.join(root, p);
    if (!file.startsWith(root + path.sep) && file !== root) {
      res.writeHead(403).end();
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${p}\n`);
      return;
    }
    sendFile(req, res, fs.readFileSync(file), TYPES[path.extname(file)] || 'application/octet-stream');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 2000;
  server.requestTimeout = 30000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(wanted, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    count: (p) => counts.get(p) || 0,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends bytes, honouring a single `Range: bytes=a-b` (206) request. */
export function sendFile(req, res, bytes, type = 'application/octet-stream') {
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || '');
  let start = 0;
  let end = bytes.length - 1;
  let status = 200;
  const headers = { 'Content-Type': type, 'Accept-Ranges': 'bytes' };
  if (range && (range[1] || range[2])) {
    if (range[1]) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
    } else {
      start = Math.max(0, bytes.length - Number(range[2]));
    }
    if (start > end || start >= bytes.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
      return;
    }
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${bytes.length}`;
  }
  headers['Content-Length'] = String(end - start + 1);
  res.writeHead(status, headers);
  if (req.method === 'HEAD') res.end();
  else res.end(bytes.subarray(start, end + 1));
}

/** Declares the full length, sends the first half, then drops the connection. */
export function sendCut(req, res, bytes) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) });
  res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => setTimeout(() => res.socket?.destroy(), 50));
}

/** Like sendFile (Range honoured), but `chunk` bytes every `everyMs` ms: a slow connection. */
export function sendSlowly(req, res, bytes, { chunk = 65536, everyMs = 50 } = {}) {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range || '');
  const start = range ? Number(range[1]) : 0;
  const headers = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'Content-Length': String(bytes.length - start) };
  if (range) headers['Content-Range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
  res.writeHead(range ? 206 : 200, headers);
  let at = start;
  const timer = setInterval(() => {
    if (at >= bytes.length) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(bytes.subarray(at, at + chunk));
    at += chunk;
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}
