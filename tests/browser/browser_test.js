// Drives the real switchboard binary with the unmodified OpenTok.js client (npm @opentok/client)
// in Debian's headless Chromium, one browser context per participant, and the official Node SDK
// (npm `opentok`) for sessions, tokens and the REST calls a backend makes.
// Usage: tests/browser/run.sh SWITCHBOARD_BINARY (runs this inside a loopback-only network
// namespace); directly: node browser_test.js SWITCHBOARD_BINARY
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const assert = require('assert');
const { promisify } = require('util');
const { chromium } = require('playwright-core');
const OpenTok = require('opentok');

const KEY = '123456';
const SECRET = '1234567890abcdef1234567890abcdef1234567890';
const OVERALL_TIMEOUT_MS = Number(process.env.SB_BROWSER_TIMEOUT_MS) || 240000;  // under CTest's 300 s
const CHROMIUM = '/usr/bin/chromium';
const VERBOSE = !!process.env.SB_BROWSER_VERBOSE;   // a few more detail lines
// SB_BROWSER_ONLY=REGEX runs only the checks whose names match (the others are listed as skipped);
// bench/robustness/sfu_flood.sh runs check o alone, longer and harder, with SB_FLOOD_*.
const ONLY = process.env.SB_BROWSER_ONLY ? new RegExp(process.env.SB_BROWSER_ONLY) : null;
const FLOOD = {
  seconds: Number(process.env.SB_FLOOD_SECONDS) || 6,
  pps: Number(process.env.SB_FLOOD_PPS) || 4000,
  report: process.env.SB_FLOOD_REPORT || '',   // where check o writes its figures (JSON)
};
const bin = process.argv[2];
if (!bin) { console.error('usage: node browser_test.js SWITCHBOARD_BINARY'); process.exit(2); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function bounded(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

// ---- Fixtures: temp dir, test tone, server config ---------------------------------------------
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-browser-'));
const wav = path.join(dir, 'tone.wav');
// Chromium's fake microphone plays (and loops) 16-bit PCM WAV; 48 kHz mono is the safe format.
const sox = spawnSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', wav, 'synth', '30', 'sine', '440', 'vol', '0.5']);
if (sox.status !== 0) {
  console.error(`browser: sox failed: ${sox.stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}
const ready = path.join(dir, 'ready.json');
fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
  threads: 2, http: { listen: '127.0.0.1:0' }, sip: { portBase: 0 },
  projects: [{ apiKey: KEY, apiSecret: SECRET }], log: { level: 'warn' },
}));

// ---- Processes we own, and the one way out ----------------------------------------------------
const server = spawn(bin, ['--config', path.join(dir, 'config.json'), '--ready-file', ready],
  { stdio: ['ignore', 'inherit', 'inherit'] });
let serverExited = null;
server.on('exit', (code, sig) => { serverExited = { code, sig }; });

let browserServer = null;   // playwright BrowserServer: owns the Chromium process (group)
let browser = null;
let pageServer = null;
const results = { passed: 0, failed: 0, skipped: 0 };
let finishing = false;
const children = [];  // other processes we start (sipp), killed by PID at the end

const deadline = setTimeout(() => {
  results.failed++;
  console.log(`FAIL overall timeout (${OVERALL_TIMEOUT_MS / 1000} s): the run was cut short`);
  finish();
}, OVERALL_TIMEOUT_MS);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    results.failed++;
    console.log(`FAIL interrupted by ${sig}`);
    finish();
  });
}

function killGroup(pid) {
  // Playwright starts Chromium as a process-group leader; its renderers and helpers are in the group.
  try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

async function finish() {
  if (finishing) return;
  finishing = true;
  clearTimeout(deadline);
  const chromePid = browserServer && browserServer.process() && browserServer.process().pid;
  if (browserServer) await bounded(browserServer.close(), 5000, 'browser close').catch(() => {});
  if (chromePid) killGroup(chromePid);
  if (serverExited === null) server.kill('SIGKILL');
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  // Leave no process behind: wait (bounded) until the Chromium group and the server are gone.
  for (let i = 0; i < 100; i++) {
    let alive = serverExited === null;
    if (chromePid) { try { process.kill(-chromePid, 0); alive = true; } catch { /* group gone */ } }
    if (!alive) break;
    await sleep(50);
  }
  if (pageServer) { pageServer.closeAllConnections(); pageServer.close(); }
  if (!process.env.SB_KEEP_BROWSER_DIR) fs.rmSync(dir, { recursive: true, force: true });
  const skipped = results.skipped ? `, ${results.skipped} skipped (SB_BROWSER_ONLY)` : '';
  console.log(`${results.passed} passed, ${results.failed} failed${skipped}`);
  process.exit(results.failed === 0 ? 0 : 1);
}

async function waitReady() {
  for (let i = 0; i < 400; i++) {
    if (serverExited) throw new Error('server exited early: ' + JSON.stringify(serverExited));
    if (fs.existsSync(ready)) {
      try { return JSON.parse(fs.readFileSync(ready, 'utf8')).httpPort; } catch { /* half written */ }
    }
    await sleep(50);
  }
  throw new Error('server not ready in 20 s');
}

// ---- The test page's own origin (differs from the server's: exercises CORS) -------------------
function servePage() {
  const files = {
    '/page.html': { type: 'text/html; charset=utf-8', body: fs.readFileSync(path.join(__dirname, 'page.html')) },
    '/opentok.js': { type: 'application/javascript',
      body: fs.readFileSync(require.resolve('@opentok/client/dist/js/opentok.js')) },
  };
  const srv = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': f.type, 'Content-Length': f.body.length, 'Cache-Control': 'no-store' });
    res.end(f.body);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

// ---- Participants: one browser context each ---------------------------------------------------
let apiUrl;
let pageUrl;
let scenarioParticipants = [];

async function participant(name) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const p = { name, ctx, page, console: [], requests: [], openSockets: 0 };
  scenarioParticipants.push(p);
  const keep = (list, line) => { list.push(line); if (list.length > 40) list.shift(); };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') keep(p.console, `${m.type()}: ${m.text().slice(0, 300)}`);
  });
  page.on('pageerror', (e) => keep(p.console, `pageerror: ${String(e).slice(0, 300)}`));
  // Requests to the server (through the proxy URL), with their outcome.
  const toServer = (u) => u.startsWith(apiUrl);
  page.on('response', (r) => {
    if (toServer(r.url())) keep(p.requests, `${r.request().method()} ${r.url().slice(apiUrl.length)} -> ${r.status()}`);
  });
  page.on('requestfailed', (r) => {
    if (toServer(r.url())) keep(p.requests, `${r.method()} ${r.url().slice(apiUrl.length)} -> failed: ${r.failure() && r.failure().errorText}`);
  });
  page.on('websocket', (ws) => {
    if (ws.url().startsWith(apiUrl.replace(/^http/, 'ws'))) {
      keep(p.requests, `WebSocket ${ws.url()} opened`);
      p.openSockets++;
      ws.on('socketerror', (e) => keep(p.requests, `WebSocket error: ${e}`));
      ws.on('close', () => { p.openSockets--; keep(p.requests, 'WebSocket closed'); });
    }
  });
  await page.goto(pageUrl, { timeout: 30000 });
  await page.waitForFunction(() => window.sb && window.sb.ready, null, { timeout: 30000 });
  // Calls window.sb[method](...args) in the page; every helper bounds itself, this bounds the call.
  p.call = (method, ...args) => bounded(
    page.evaluate(([m, a]) => window.sb[m](...a), [method, args]), 45000, `${name}.${method}`);
  return p;
}

async function closeParticipants() {
  const ps = scenarioParticipants;
  scenarioParticipants = [];
  await Promise.all(ps.map((p) => bounded(p.ctx.close(), 5000, 'context close').catch(() => {})));
}

// What a failed check prints about its participants: the last requests that reached the server
// (the client's logging posts left out) and the last distinct errors and warnings of each page.
function diagnostics() {
  const noise = /hlg\.tokbox\.com|Failed to load resource|^error: Access to XMLHttpRequest|could not reach Config/;
  const short = (l) => l.split('\n')[0].replace(/\/session\/[^/?\s]+/g, '/session/<sid>').replace(/%c/g, '')
    .replace(/ \+\d+ms color: .*$/, '').slice(0, 220);
  const lines = [];
  for (const p of scenarioParticipants) {
    const reqs = [...new Set(p.requests.filter((r) => !noise.test(r)).map(short))];
    if (reqs.length) lines.push(`     [${p.name}] server requests: ${reqs.slice(-4).join(' | ')}`);
    const logs = [...new Set(p.console.filter((l) => !noise.test(l)).map(short))];
    for (const c of logs.slice(-3)) lines.push(`     [${p.name}] ${c}`);
  }
  return lines.join('\n');
}

async function check(name, fn) {
  if (finishing) return;   // cut short (timeout, signal): the summary is on its way
  if (ONLY && !ONLY.test(name)) {
    results.skipped++;
    console.log(`skip ${name}`);
    return;
  }
  try {
    if (serverExited) throw new Error(`the server is not running (exited: ${JSON.stringify(serverExited)})`);
    await fn();
    if (serverExited) throw new Error(`the server exited during the check: ${JSON.stringify(serverExited)}`);
    if (finishing) return;
    results.passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    if (finishing) return;
    results.failed++;
    // The first line says what failed; page-side stacks add nothing.
    const msg = String(e && e.message || e).replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0];
    console.log(`FAIL ${name}\n     ${msg}`);
    if (serverExited && !msg.startsWith('the server')) console.log(`     (the server exited: ${JSON.stringify(serverExited)})`);
    const d = /^(no connected pair|the server is not running)/.test(msg) ? '' : diagnostics();
    if (d) console.log(d);
  }
}

// ---- Sessions and connected pairs ---------------------------------------------------------------
let ot;
async function newSession(mediaMode) {
  return (await promisify(ot.createSession.bind(ot))({ mediaMode })).sessionId;
}

// A (moderator, data name=alice) and B (publisher, data name=bob) connected to a fresh session.
async function connectedPair(mediaMode) {
  const sid = await newSession(mediaMode);
  const [A, B] = await Promise.all([participant('A'), participant('B')]);
  const [a, b] = await Promise.all([
    A.call('connect', KEY, sid, ot.generateToken(sid, { role: 'moderator', data: 'name=alice' }), 15000),
    B.call('connect', KEY, sid, ot.generateToken(sid, { role: 'publisher', data: 'name=bob' }), 15000),
  ]);
  return { sid, A, B, a, b };
}

// The server's /metrics text.
function scrapeMetrics() {
  return new Promise((res, rej) => {
    http.get(`${apiUrl}/metrics`, (r) => { let b = ''; r.on('data', (d) => { b += d; }); r.on('end', () => res(b)); })
      .on('error', rej);
  });
}

// A counter or gauge from the server's /metrics (0 when absent).
async function metric(name) {
  const text = await scrapeMetrics();
  const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}

// Every series of a labelled counter: {label value: number}.
async function metricsByLabel(name, label) {
  const text = await scrapeMetrics();
  const out = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{${label}="([^"]+)"\\} (\\d+)$`, 'gm'))) out[m[1]] = Number(m[2]);
  return out;
}

// The server process as the kernel sees it: resident memory, open descriptors, CPU seconds
// (utime + stime; USER_HZ is 100 on Linux).
function serverProc() {
  const rssKb = Number((fs.readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m) || [])[1]);
  const fds = fs.readdirSync(`/proc/${server.pid}/fd`).length;
  const stat = fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKb, fds, cpuSeconds: (Number(f[11]) + Number(f[12])) / 100, t: Date.now() };
}
// Datagrams the kernel dropped on full UDP receive buffers, namespace-wide (Udp: RcvbufErrors).
function udpRcvbufErrors() {
  const lines = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp: '));
  const names = lines[0].split(/\s+/), values = lines[1].split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
}
const cpuShare = (a, b) => (b.cpuSeconds - a.cpuSeconds) / Math.max(0.001, (b.t - a.t) / 1000);

// A UDP port free right now on 127.0.0.1 (for a sipp far end).
function freeUdpPort() {
  const dgram = require('dgram');
  return new Promise((res, rej) => {
    const s = dgram.createSocket('udp4');
    s.on('error', rej);
    s.bind(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

const restSignal = (sid, connId, payload) =>
  new Promise((res, rej) => ot.signal(sid, connId, payload, (e) => (e ? rej(e) : res())));
// A REST dial into `sid` with a token whose connection data is `data`.
const restDial = (sid, data, uri) =>
  new Promise((res, rej) => ot.dial(sid, ot.generateToken(sid, { data }), uri, {}, (e, c) => (e ? rej(e) : res(c))));
// A SIP party's stream can be subscribed once its call is answered (its media is in the mix):
// retried, bounded.
async function subscribeWhenAnswered(P, streamId) {
  for (let i = 0; ; i++) {
    try { return await P.call('subscribe', streamId, 10000); } catch (e) { if (i === 19) throw e; await sleep(250); }
  }
}
const restForceDisconnect = (sid, connId) =>
  new Promise((res, rej) => ot.forceDisconnect(sid, connId, (e) => (e ? rej(e) : res())));

// Polls a subscription until video frames are being decoded (a rising count) and the tone's audio
// energy arrived; fails with the last sample. A silent microphone still yields dither (total energy
// ~3e-9 after 1 s); the 440 Hz tone at half scale gives ~0.1 per second.
const MIN_AUDIO_ENERGY = 1e-3;
async function waitMediaFlowing(P, streamId, ms) {
  const end = Date.now() + ms;
  let first = null;
  let last = null;
  while (Date.now() < end) {
    last = await P.call('inboundStats', streamId);
    if (!first && last.framesDecoded > 0) first = last;
    if (first && last.framesDecoded > first.framesDecoded && last.audioEnergy > MIN_AUDIO_ENERGY) {
      if (VERBOSE) console.log(`     ${P.name} receives ${streamId}: ${JSON.stringify(last)}`);
      return last;
    }
    await sleep(500);
  }
  throw new Error(`${P.name}: media from ${streamId} not flowing in ${ms} ms; last stats ${JSON.stringify(last)}`);
}

// ---- Scenarios --------------------------------------------------------------------------------
async function scenarios() {
  // 0. The harness itself: the page loaded OpenTok.js, applied setProxyUrl, and the client's
  //    first session-info (anvil) request went to the server's origin.
  await check('harness: OpenTok.js loads and sends its anvil request through the server', async () => {
    const sid = await newSession('relayed');
    const X = await participant('X');
    const info = await X.page.evaluate(() => ({ version: window.sb.version, sysreq: window.sb.systemRequirements }));
    assert.match(String(info.version), /^v?2\.35\.2$/, 'OT.version');
    assert.strictEqual(info.sysreq, 1, 'OT.checkSystemRequirements()');
    const seen = X.page.waitForRequest((r) => r.url().startsWith(`${apiUrl}/anvil.opentok.com/session/${sid}`),
      { timeout: 15000 });
    const token = ot.generateToken(sid, { role: 'publisher' });
    const connecting = X.call('connect', KEY, sid, token, 10000).catch(() => {});
    const req = await seen;
    assert.match(req.url(), /\?extended=true$/);
    assert.strictEqual(req.headers()['x-opentok-auth'], token);
    await connecting;
    await X.call('disconnect');
  });
  await closeParticipants();

  // a. Relayed session: both connect and see each other's connection with its data.
  let pairA = null;
  await check('a. relayed: A (moderator) and B (publisher) connect and see each other', async () => {
    const p = await connectedPair('relayed');
    pairA = p;
    const { A, B, a, b } = p;
    assert.strictEqual(a.data, 'name=alice');
    assert.strictEqual(b.data, 'name=bob');
    assert.notStrictEqual(a.connectionId, b.connectionId);
    const [ab, ba] = await Promise.all([
      A.call('waitEvent', { src: 'session', type: 'connectionCreated', connectionId: b.connectionId }, 10000),
      B.call('waitEvent', { src: 'session', type: 'connectionCreated', connectionId: a.connectionId }, 10000),
    ]);
    assert.strictEqual(ab.data, 'name=bob');
    assert.strictEqual(ba.data, 'name=alice');
  });
  // The signal and permission checks reuse a's pair when it connected, else make their own.
  // One more try when a's pair did not connect; after that the checks fail at once, saying why.
  let retries = 1;
  let setupError = null;
  const pairForA = async () => {
    if (pairA && (await pairA.A.call('me')) && (await pairA.B.call('me'))) return pairA;
    if (retries-- <= 0) throw new Error(`no connected pair to run on (${setupError})`);
    await closeParticipants();
    try {
      pairA = await connectedPair('relayed');
    } catch (e) {
      setupError = String(e && e.message || e).replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0];
      throw e;
    }
    return pairA;
  };

  // b. Signals. A signal that must not reach someone is followed by a broadcast "fence" on the same
  //    path: once the fence arrived, a misrouted signal (sent earlier) would have arrived too.
  await check('b1. signal from A to everyone reaches A and B, from A', async () => {
    const { A, B, a } = await pairForA();
    assert.deepStrictEqual(await A.call('signal', { type: 'chat', data: 'hello all' }), { ok: true });
    for (const P of [A, B]) {
      const ev = await P.call('waitEvent', { type: 'signal', signalType: 'chat' }, 10000);
      assert.strictEqual(ev.data, 'hello all');
      assert.strictEqual(ev.from, a.connectionId, `${P.name}: from ${ev.from}`);
    }
  });
  await check('b2. signal from A to B only reaches B', async () => {
    const { A, B, a, b } = await pairForA();
    assert.deepStrictEqual(await A.call('signal', { type: 'direct', data: 'just bob', to: b.connectionId }), { ok: true });
    assert.deepStrictEqual(await A.call('signal', { type: 'fence1', data: '' }), { ok: true });
    const ev = await B.call('waitEvent', { type: 'signal', signalType: 'direct' }, 10000);
    assert.strictEqual(ev.data, 'just bob');
    assert.strictEqual(ev.from, a.connectionId);
    await A.call('waitEvent', { type: 'signal', signalType: 'fence1' }, 10000);
    assert.deepStrictEqual(await A.call('events', { type: 'signal', signalType: 'direct' }), [], 'A got B\'s signal');
  });
  await check('b3. REST signal to the session reaches A and B, from null', async () => {
    const { sid, A, B } = await pairForA();
    await restSignal(sid, null, { type: 'rest-all', data: 'from the backend' });
    for (const P of [A, B]) {
      const ev = await P.call('waitEvent', { type: 'signal', signalType: 'rest-all' }, 10000);
      assert.strictEqual(ev.data, 'from the backend');
      assert.strictEqual(ev.from, null, `${P.name}: from ${ev.from}`);
    }
  });
  await check('b4. REST signal to B\'s connection reaches only B', async () => {
    const { sid, A, B, b } = await pairForA();
    await restSignal(sid, b.connectionId, { type: 'rest-b', data: 'for bob' });
    await restSignal(sid, null, { type: 'fence2', data: '' });
    const ev = await B.call('waitEvent', { type: 'signal', signalType: 'rest-b' }, 10000);
    assert.strictEqual(ev.data, 'for bob');
    assert.strictEqual(ev.from, null);
    await A.call('waitEvent', { type: 'signal', signalType: 'fence2' }, 10000);
    assert.deepStrictEqual(await A.call('events', { type: 'signal', signalType: 'rest-b' }), [], 'A got B\'s signal');
  });

  // i. Permissions: the client refuses by itself what the server's permission list does not allow.
  await check('i. permissions: the publisher cannot forceDisconnect (client-side refusal)', async () => {
    const { A, B, a, b } = await pairForA();
    // The five the server's permission list decides (the client adds supportsWebRTC and the like).
    const perms = (c) => Object.fromEntries(['publish', 'subscribe', 'forceDisconnect', 'forceUnpublish', 'forceMute']
      .map((k) => [k, c[k]]));
    assert.deepStrictEqual(perms(a.capabilities),
      { publish: 1, subscribe: 1, forceDisconnect: 1, forceUnpublish: 1, forceMute: 1 },
      `moderator capabilities ${JSON.stringify(a.capabilities)}`);
    assert.deepStrictEqual(perms(b.capabilities),
      { publish: 1, subscribe: 1, forceDisconnect: 0, forceUnpublish: 0, forceMute: 0 },
      `publisher capabilities ${JSON.stringify(b.capabilities)}`);
    const r = await B.call('forceDisconnect', a.connectionId);
    assert.strictEqual(r.ok, false);
    assert.strictEqual(r.error.name, 'OT_PERMISSION_DENIED');
    assert.strictEqual(r.error.code, 1520);
    // Nobody was disconnected: a signal still goes round.
    assert.deepStrictEqual(await B.call('signal', { type: 'fence3', data: '' }), { ok: true });
    await A.call('waitEvent', { type: 'signal', signalType: 'fence3' }, 10000);
    assert.deepStrictEqual(await A.call('events', { type: 'connectionDestroyed' }), []);
    assert.deepStrictEqual(await B.call('events', { type: 'sessionDisconnected' }), []);
  });
  await closeParticipants();

  // c. P2P media both ways.
  await check('c. relayed: A and B publish, subscribe to each other, video and audio flow both ways', async () => {
    const { A, B, a, b } = await connectedPair('relayed');
    const [pa, pb] = await Promise.all([
      A.call('publish', { audio: true, video: true, name: 'alice' }),
      B.call('publish', { audio: true, video: true, name: 'bob' }),
    ]);
    const [sa, sb] = await Promise.all([
      B.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: pa.streamId }, 10000),
      A.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: pb.streamId }, 10000),
    ]);
    assert.strictEqual(sa.streamConnectionId, a.connectionId);
    assert.strictEqual(sb.streamConnectionId, b.connectionId);
    assert.ok(sa.hasAudio && sa.hasVideo && sb.hasAudio && sb.hasVideo, 'streams have audio and video');
    await Promise.all([A.call('subscribe', pb.streamId), B.call('subscribe', pa.streamId)]);
    await Promise.all([waitMediaFlowing(A, pb.streamId, 20000), waitMediaFlowing(B, pa.streamId, 20000)]);
  });
  await closeParticipants();

  // d. forceMuteStream.
  await check('d. forceMuteStream: B\'s publisher gets muteForced, A sees hasAudio become false', async () => {
    const { A, B } = await connectedPair('relayed');
    const pb = await B.call('publish', { audio: true, video: false, name: 'bob' });
    await A.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: pb.streamId }, 10000);
    assert.deepStrictEqual(await A.call('forceMuteStream', pb.streamId), { ok: true });
    await B.call('waitEvent', { src: 'publisher', type: 'muteForced' }, 10000);
    await A.call('waitEvent', { src: 'session', type: 'streamPropertyChanged', streamId: pb.streamId,
      changedProperty: 'hasAudio', newValue: false }, 10000);
  });
  await closeParticipants();

  // e. forceUnpublish.
  await check('e. forceUnpublish: A and B see B\'s stream destroyed (forceUnpublished)', async () => {
    const { A, B } = await connectedPair('relayed');
    const pb = await B.call('publish', { audio: true, video: false, name: 'bob' });
    await A.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: pb.streamId }, 10000);
    assert.deepStrictEqual(await A.call('forceUnpublish', pb.streamId), { ok: true });
    await A.call('waitEvent', { src: 'session', type: 'streamDestroyed', streamId: pb.streamId,
      reason: 'forceUnpublished' }, 10000);
    // The owner learns it through its Publisher.
    await B.call('waitEvent', { src: 'publisher', type: 'streamDestroyed', streamId: pb.streamId,
      reason: 'forceUnpublished' }, 10000);
  });
  await closeParticipants();

  // f. forceDisconnect by a moderator client; g. REST forceDisconnect of B after it reconnected.
  let pairF = null;
  await check('f. forceDisconnect from A: B disconnected (forceDisconnected), A sees it go', async () => {
    const p = await connectedPair('relayed');
    pairF = p;
    const { A, B, b } = p;
    await A.call('waitEvent', { src: 'session', type: 'connectionCreated', connectionId: b.connectionId }, 10000);
    assert.deepStrictEqual(await A.call('forceDisconnect', b.connectionId), { ok: true });
    await B.call('waitEvent', { src: 'session', type: 'sessionDisconnected', reason: 'forceDisconnected', gen: b.gen }, 10000);
    await A.call('waitEvent', { src: 'session', type: 'connectionDestroyed', connectionId: b.connectionId,
      reason: 'forceDisconnected' }, 10000);
  });
  await check('g. REST forceDisconnect of a reconnected B: same events', async () => {
    let p = pairF;
    if (!p || !(await p.A.call('me'))) {
      // f did not leave A connected: a fresh pair, B leaves on its own first.
      await closeParticipants();
      p = await connectedPair('relayed');
      await p.B.call('disconnect');
    }
    const { sid, A, B } = p;
    // OT.initSession hands the page the same Session object again (the client caches it by
    // session ID), and its handler for a socket closing compares only the socket URL, which is
    // the same for both connections: the first socket's close, if the client tears it down
    // after the reconnect (seen on a loaded 2-core machine), would end the new connection as
    // clientDisconnected. A reconnecting app waits for sessionDisconnected; wait as well for
    // the old socket to be gone.
    const end = Date.now() + 10000;
    while (B.openSockets > 0 && Date.now() < end) await sleep(50);
    assert.strictEqual(B.openSockets, 0, 'B\'s first socket did not close');
    await sleep(500);
    const since = await A.call('mark');
    const b2 = await B.call('connect', KEY, sid, ot.generateToken(sid, { role: 'publisher', data: 'name=bob2' }), 15000);
    const created = await A.call('waitEvent', { src: 'session', type: 'connectionCreated', connectionId: b2.connectionId }, 10000, since);
    assert.strictEqual(created.data, 'name=bob2');
    await restForceDisconnect(sid, b2.connectionId);
    await B.call('waitEvent', { src: 'session', type: 'sessionDisconnected', reason: 'forceDisconnected', gen: b2.gen }, 10000);
    await A.call('waitEvent', { src: 'session', type: 'connectionDestroyed', connectionId: b2.connectionId,
      reason: 'forceDisconnected' }, 10000, since);
  });
  await closeParticipants();

  // h. Routed session: connect and signal.
  await check('h. routed: A and B connect and exchange a signal', async () => {
    const { A, B, a, b } = await connectedPair('routed');
    await A.call('waitEvent', { src: 'session', type: 'connectionCreated', connectionId: b.connectionId }, 10000);
    assert.deepStrictEqual(await B.call('signal', { type: 'routed-hello', data: 'hi' }), { ok: true });
    for (const P of [A, B]) {
      const ev = await P.call('waitEvent', { type: 'signal', signalType: 'routed-hello' }, 10000);
      assert.strictEqual(ev.from, b.connectionId);
    }
    assert.ok(a.connectionId);
  });
  // k. Routed media: the server is the SFU ("Mantis", OPENTOK-CLIENT.md §6.1). Both browsers
  //    publish into it and subscribe to each other through it; the media is forwarded, never
  //    decoded: /metrics shows forwarded packets and no mixer running.
  await check('k. routed: A and B publish through the SFU, subscribe to each other, media flows both ways', async () => {
    const before = await metric('switchboard_sfu_forwarded_rtp_total');
    const rembBefore = await metric('switchboard_sfu_remb_total');
    const { A, B, a, b } = await connectedPair('routed');
    const [pa, pb] = await Promise.all([
      A.call('publish', { audio: true, video: true, name: 'alice' }),
      B.call('publish', { audio: true, video: true, name: 'bob' }),
    ]);
    const [sa, sb] = await Promise.all([
      B.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: pa.streamId }, 15000),
      A.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: pb.streamId }, 15000),
    ]);
    assert.strictEqual(sa.streamConnectionId, a.connectionId);
    assert.strictEqual(sb.streamConnectionId, b.connectionId);
    await Promise.all([A.call('subscribe', pb.streamId), B.call('subscribe', pa.streamId)]);
    await Promise.all([waitMediaFlowing(A, pb.streamId, 20000), waitMediaFlowing(B, pa.streamId, 20000)]);
    // Media keeps flowing (≈ 100 packets/s both ways): the forwarding counter must pass 200
    // within a bounded wait.
    let forwarded = 0;
    for (let i = 0; i < 50 && forwarded <= 200; i++) {
      forwarded = (await metric('switchboard_sfu_forwarded_rtp_total')) - before;
      if (forwarded <= 200) await sleep(200);
    }
    assert.ok(forwarded > 200, `the SFU forwarded ${forwarded} RTP packets`);
    // Receive-side bandwidth estimation: subscribers' REMBs (computed from the forwarded
    // abs-send-time extension) reach the publishers.
    let remb = 0;
    for (let i = 0; i < 40 && remb === 0; i++) {
      remb = (await metric('switchboard_sfu_remb_total')) - rembBefore;
      if (remb === 0) await sleep(250);
    }
    assert.ok(remb > 0, 'subscribers\' REMB estimates were relayed to the publishers');
    // Each subscriber leg has SSRCs of its own (the SFU rewrites them): none of A's outbound
    // SSRCs reaches B as such.
    const aSsrcs = await A.call('publisherSsrcs');
    const bIn = await B.call('inboundStats', pa.streamId);
    assert.ok(aSsrcs.length >= 2 && bIn.ssrcs.length >= 2, `ssrcs: A sends ${aSsrcs}, B receives ${bIn.ssrcs}`);
    assert.ok(!bIn.ssrcs.some((x) => aSsrcs.includes(x)), `B receives A's own SSRCs: ${bIn.ssrcs} vs ${aSsrcs}`);
    // subscribeToVideo(false) for 2 s: the SFU stops forwarding B's copy of A's video; after
    // (true) the leg's numbering carries on where it stopped, so B counts no lost packets for
    // the pause (without rewriting it would count every packet skipped: ~2 s of video).
    const lostBefore = bIn.videoLost;
    await B.call('subscribeToVideo', pa.streamId, false);
    await sleep(2000);
    const paused = await B.call('inboundStats', pa.streamId);
    await B.call('subscribeToVideo', pa.streamId, true);
    let resumed = paused;
    for (let i = 0; i < 50 && resumed.framesDecoded <= paused.framesDecoded + 5; i++) {
      await sleep(200);
      resumed = await B.call('inboundStats', pa.streamId);
    }
    assert.ok(resumed.framesDecoded > paused.framesDecoded + 5, `video did not resume: ${JSON.stringify(resumed)}`);
    assert.ok(resumed.videoLost - lostBefore < 10,
      `B counted ${resumed.videoLost - lostBefore} video packets lost across the pause (${JSON.stringify(resumed)})`);
    assert.strictEqual(await metric('switchboard_media_conferences'), 0, 'no mixer (no transcoding) for browser media');
    // Unpublishing ends the stream for the subscriber.
    assert.deepStrictEqual(await A.call('unpublish'), { ok: true });
    const gone = await B.call('waitEvent', { src: 'session', type: 'streamDestroyed', streamId: pa.streamId }, 10000);
    assert.ok(gone);
  });

  // l. A SIP party dialed into a routed session through REST appears to browsers as a connection
  //    with an audio-only stream; force-disconnecting it ends the call (BYE) and browsers see the
  //    stream go, then the connection.
  await check('l. SIP party: browsers see its audio-only stream; REST force-disconnect removes stream then connection', async () => {
    const sid = await newSession('routed');
    const A = await participant('A');
    await A.call('connect', KEY, sid, ot.generateToken(sid, { role: 'moderator', data: 'name=alice' }), 15000);
    const sipPort = await freeUdpPort();
    const sipp = spawn('sipp', ['-sf', path.join(__dirname, '..', 'sip', 'scenarios', 'uas_answer_wait_bye.xml'),
      '-i', '127.0.0.1', '-p', String(sipPort), '-m', '1', '-timeout', '30s', '-nostdin'],
    { stdio: ['ignore', 'ignore', 'ignore'] });
    children.push(sipp);
    const sippExit = new Promise((res) => sipp.on('exit', (code) => res(code)));
    await sleep(300);
    const call = await restDial(sid, 'sip=phone', `sip:uas@127.0.0.1:${sipPort}`);
    const conn = await A.call('waitEvent', { src: 'session', type: 'connectionCreated', connectionId: call.connectionId }, 10000);
    assert.strictEqual(conn.data, 'sip=phone');
    const st = await A.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: call.streamId }, 10000);
    assert.strictEqual(st.hasAudio, true);
    assert.strictEqual(st.hasVideo, false);
    assert.strictEqual(st.streamConnectionId, call.connectionId);
    const mark = await A.call('mark');
    await restForceDisconnect(sid, call.connectionId);
    const sd = await A.call('waitEvent', { src: 'session', type: 'streamDestroyed', streamId: call.streamId }, 10000, mark);
    const cd = await A.call('waitEvent', { src: 'session', type: 'connectionDestroyed', connectionId: call.connectionId }, 10000, mark);
    assert.ok(sd.i < cd.i, 'streamDestroyed before connectionDestroyed');
    assert.strictEqual(await bounded(sippExit, 15000, 'sipp exit'), 0, 'sipp saw the BYE and ended cleanly');
  });
  await closeParticipants();

  // m. Browser ↔ SIP audio, both ways through the mix: the SIP far end (sipp) echoes the RTP it
  //    gets. A subscribes to the SIP party's stream and hears silence while nobody talks; once A
  //    publishes its tone, the tone goes browser → SFU → Opus decode → mix → PCMU → sipp, comes
  //    back as the SIP party's audio, is encoded once as Opus and reaches A as that stream.
  await check('m. SIP party and browser hear each other: A\'s tone goes through the mix to an echoing far end and back', async () => {
    const sid = await newSession('routed');
    const A = await participant('A');
    await A.call('connect', KEY, sid, ot.generateToken(sid, { role: 'moderator', data: 'name=alice' }), 15000);
    const [sipPort, mediaPort] = [await freeUdpPort(), await freeUdpPort()];
    const sipp = spawn('sipp', ['-sf', path.join(__dirname, '..', 'sip', 'scenarios', 'uas_answer_wait_bye.xml'),
      '-i', '127.0.0.1', '-p', String(sipPort), '-mp', String(mediaPort), '-rtp_echo', '-m', '1',
      '-timeout', '60s', '-nostdin'],
    { stdio: ['ignore', 'ignore', 'ignore'] });
    children.push(sipp);
    const sippExit = new Promise((res) => sipp.on('exit', (code) => res(code)));
    await sleep(300);
    const call = await restDial(sid, 'sip=echo', `sip:uas@127.0.0.1:${sipPort}`);
    await A.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: call.streamId }, 10000);
    await subscribeWhenAnswered(A, call.streamId);
    // Silence first: the far end echoes the mix, and nobody talks yet.
    let s0 = null;
    for (let i = 0; i < 40 && !(s0 && s0.audioPackets > 50); i++) { await sleep(250); s0 = await A.call('inboundStats', call.streamId); }
    assert.ok(s0.audioPackets > 50, `A receives the SIP party's stream (${JSON.stringify(s0)})`);
    await sleep(1500);
    const s1 = await A.call('inboundStats', call.streamId);
    assert.ok(s1.audioEnergy - s0.audioEnergy < MIN_AUDIO_ENERGY / 10,
      `silence while nobody talks (energy ${s1.audioEnergy - s0.audioEnergy})`);
    // A talks: its tone comes back through the SIP far end.
    await A.call('publish', { audio: true, video: false, name: 'alice' });
    let s2 = s1;
    for (let i = 0; i < 60 && s2.audioEnergy - s1.audioEnergy <= MIN_AUDIO_ENERGY; i++) {
      await sleep(250);
      s2 = await A.call('inboundStats', call.streamId);
    }
    assert.ok(s2.audioEnergy - s1.audioEnergy > MIN_AUDIO_ENERGY,
      `A hears its tone back from the SIP party (energy ${s2.audioEnergy - s1.audioEnergy}, ${JSON.stringify(s2)})`);
    assert.ok(await metric('switchboard_sfu_local_rtp_total') > 50, 'the SIP stream was sent by the SFU');
    await restForceDisconnect(sid, call.connectionId);
    assert.strictEqual(await bounded(sippExit, 15000, 'sipp exit'), 0, 'sipp saw the BYE and ended cleanly');
  });
  await closeParticipants();

  // n. A real SIP phone (baresip, sending 880 Hz, Opus) dialed into a routed session where A
  //    publishes 440 Hz: the room relays (SIP ↔ browser Opus passthrough); A hears baresip
  //    through the SIP party's stream, and baresip's recording of what it received is A's tone
  //    (and not its own); force-disconnect ends it.
  await check('n. baresip UAS: the browser hears it, and its recording is the browser\'s tone', async () => {
    const sid = await newSession('routed');
    const A = await participant('A');
    await A.call('connect', KEY, sid, ot.generateToken(sid, { role: 'moderator', data: 'name=alice' }), 15000);
    await A.call('publish', { audio: true, video: false, name: 'alice' });
    const b = await startBaresip();
    const call = await restDial(sid, 'sip=baresip', `sip:uas@127.0.0.1:${b.port}`);
    await A.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: call.streamId }, 10000);
    await subscribeWhenAnswered(A, call.streamId);
    let st = await A.call('inboundStats', call.streamId);
    const e0 = st.audioEnergy;
    for (let i = 0; i < 60 && st.audioEnergy - e0 <= MIN_AUDIO_ENERGY; i++) {
      await sleep(250);
      st = await A.call('inboundStats', call.streamId);
    }
    assert.ok(st.audioEnergy - e0 > MIN_AUDIO_ENERGY, `A hears baresip (${JSON.stringify(st)})`);
    // Both sides speak Opus at 20 ms: the room relays (no decode, mix or encode), A's packets to
    // baresip and baresip's to A's subscription, as they are.
    let relaying = 0;
    for (let i = 0; i < 20 && relaying < 1; i++) { relaying = await metric('switchboard_media_relaying'); if (!relaying) await sleep(250); }
    assert.strictEqual(relaying, 1, 'the browser and the Opus SIP party are in passthrough');
    const relayed0 = await metric('switchboard_media_relayed_packets_total');
    await sleep(3000);  // seconds of A's tone in baresip's recording
    const relayed = await metric('switchboard_media_relayed_packets_total') - relayed0;
    assert.ok(relayed > 100, `A's packets went to baresip as they are (${relayed} in 3 s)`);
    assert.strictEqual(await metric('switchboard_media_relaying'), 1, 'and the room stayed in passthrough');
    await restForceDisconnect(sid, call.connectionId);
    for (let i = 0; i < 100 && !b.log().includes('terminated (duration'); i++) await sleep(100);
    const m = b.log().match(/sndfile: dumping decode audio to (\S+)/);
    assert.ok(m, `baresip recorded the call (${b.log().slice(-400)})`);
    const { rate, samples } = readWav(m[1]);
    // The last two seconds: the jitter buffers are settled and A has been talking throughout.
    const tail = samples.slice(Math.max(0, samples.length - 2 * rate));
    assert.ok(tail.length >= rate, `a recording of ${samples.length} samples at ${rate} Hz`);
    const a440 = toneShare(tail, rate, 440), own880 = toneShare(tail, rate, 880);
    const rms = Math.sqrt(tail.reduce((acc, x) => acc + x * x, 0) / tail.length);
    if (VERBOSE) console.log(`     baresip heard: ${samples.length} samples at ${rate} Hz, tail rms ${rms.toFixed(1)}, 440 Hz share ${a440.toFixed(3)}, 880 Hz share ${own880.toFixed(3)} (${m[1]})`);
    assert.ok(a440 > 0.5, `baresip heard A's 440 Hz tone (share ${a440.toFixed(3)} of the power)`);
    assert.ok(own880 < 0.05, `baresip did not hear itself (880 Hz share ${own880.toFixed(3)})`);
    b.proc.kill('SIGTERM');
    await bounded(b.exit, 5000, 'baresip exit').catch(() => b.proc.kill('SIGKILL'));
  });
  await closeParticipants();

  // o. A flood on the SFU's ports while A publishes audio and video to B through it
  //    (bench/robustness/sfu_flood.py): strangers spray random bytes, STUN, RTP, RTCP and DTLS
  //    from 64 addresses; an on-path attacker, spoofing the browsers' own addresses and ports,
  //    replays the SRTP/SRTCP it captured, forges SRTP/SRTCP with their SSRCs, pushes junk DTLS
  //    records into the established associations and sends ICE checks with a captured USERNAME
  //    and a forged MESSAGE-INTEGRITY. All of it but the DTLS records is dropped and counted by
  //    kind (switchboard_sfu_dropped_total); the DTLS records reach the associations, which
  //    discard them (epoch 0 after the handshake, no valid MAC) — the legs must survive them.
  //    B's copy of A's media keeps flowing: its rates during the flood are compared with a quiet
  //    window of the same length just before.
  await check('o. SFU port flood (strangers and a spoofing on-path attacker): dropped by kind, media unaffected', async () => {
    const { A, B } = await connectedPair('routed');
    const pa = await A.call('publish', { audio: true, video: true, name: 'alice' });
    await B.call('waitEvent', { src: 'session', type: 'streamCreated', streamId: pa.streamId }, 15000);
    await B.call('subscribe', pa.streamId);
    await waitMediaFlowing(B, pa.streamId, 20000);
    const pairs = [...await A.call('selectedPairs'), ...await B.call('selectedPairs')];
    const ports = [...new Set(pairs.map((p) => p.remote.port))];
    assert.ok(ports.length >= 1 && pairs.length >= 2, `selected pairs: ${JSON.stringify(pairs)}`);
    // Rates over the browser's own sampling times (RTCStats timestamps), not when a sample came
    // back over the page RPC.
    const rates = (x, y, secs = (y.timestamp - x.timestamp) / 1000) => ({
      seconds: secs,
      fps: (y.framesDecoded - x.framesDecoded) / secs,
      audioPps: (y.audioPackets - x.audioPackets) / secs,
      videoPps: (y.videoPackets - x.videoPackets) / secs,
      audioLost: y.audioLost - x.audioLost,
      videoLost: y.videoLost - x.videoLost,
      concealedShare: (y.concealedSamples - x.concealedSamples) / Math.max(1, y.samplesReceived - x.samplesReceived),
      freezes: y.freezes - x.freezes,
      energy: y.audioEnergy - x.audioEnergy,
    });
    // A quiet window as long as the flood: what B receives without it.
    const q0 = await B.call('inboundStats', pa.streamId);
    const pq0 = serverProc();
    await sleep(FLOOD.seconds * 1000);
    const pq1 = serverProc();
    const q1 = await B.call('inboundStats', pa.streamId);
    const quiet = { ...rates(q0, q1), serverCpu: cpuShare(pq0, pq1) };
    const drops0 = await metricsByLabel('switchboard_sfu_dropped_total', 'reason');
    const rcvbuf0 = udpRcvbufErrors();
    const fwd0 = await metric('switchboard_sfu_forwarded_rtp_total');
    const args = [path.join(__dirname, '..', '..', 'bench', 'robustness', 'sfu_flood.py'),
      '--seconds', String(FLOOD.seconds), '--pps', String(FLOOD.pps), ...ports.flatMap((p) => ['--port', String(p)])];
    const flood = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(flood);
    let out = '', err = '', f0 = null, pf0 = null, started = false;
    flood.stdout.on('data', (d) => { out += d; });
    // The flooder says when its capture ends and the flood starts: B's window starts with the
    // first sample taken after that.
    flood.stderr.on('data', (d) => {
      err += d;
      if (!started && err.includes('flooding')) {
        started = true;
        pf0 = serverProc();
        B.call('inboundStats', pa.streamId).then((st) => { f0 = st; }, () => {});
      }
    });
    // 'close', not 'exit': the JSON on stdout may still be in flight when the process exits.
    const code = await bounded(new Promise((res) => flood.on('close', res)), (FLOOD.seconds + 30) * 1000, 'sfu_flood.py');
    const pf1 = serverProc();
    const f1 = await B.call('inboundStats', pa.streamId);
    assert.strictEqual(code, 0, `sfu_flood.py failed: ${err.slice(-600)}`);
    assert.ok(f0, 'the flood never started');
    const during = { ...rates(f0, f1), serverCpu: cpuShare(pf0, pf1) };
    const proc = { before: pq0, floodStart: pf0, after: pf1 };
    const rcvbufErrors = udpRcvbufErrors() - rcvbuf0;
    const report = JSON.parse(out);
    const drops1 = await metricsByLabel('switchboard_sfu_dropped_total', 'reason');
    const dropped = Object.fromEntries(Object.keys(drops1).map((k) => [k, drops1[k] - (drops0[k] || 0)]));
    const forwarded = (await metric('switchboard_sfu_forwarded_rtp_total')) - fwd0;
    const figures = { ports, pairs: pairs.length, flood: report, dropped, rcvbufErrors, forwarded, quiet, during, server: proc };
    if (FLOOD.report) fs.writeFileSync(FLOOD.report, JSON.stringify(figures, null, 1));
    if (VERBOSE || FLOOD.report) console.log(`     figures: ${JSON.stringify(figures)}`);
    const k = report.by_kind;
    const sum = (...names) => names.reduce((a, n) => a + (k[n] || 0), 0);
    // The flood happened, both attackers: strangers and the spoofer (it captured the legs).
    assert.ok(report.sent >= 0.5 * FLOOD.pps * FLOOD.seconds, `the flooder sent ${report.sent}`);
    assert.ok(report.captured_flows.length >= 2, `captured flows: ${JSON.stringify(report.captured_flows)}`);
    const strangers = sum('stranger_random', 'stranger_stun_user', 'stranger_stun_bare', 'stranger_rtp',
      'stranger_rtcp', 'stranger_dtls');
    const spoofedMedia = sum('replayed_srtp', 'replayed_srtcp', 'forged_srtp', 'forged_srtcp');
    assert.ok(strangers > 0 && spoofedMedia > 0 && k.forged_check > 0, `kinds sent: ${JSON.stringify(k)}`);
    // Counted by kind. A datagram the kernel dropped on a full socket buffer never reaches a
    // counter, so the bound is 90 % of what was sent; the namespace's UDP receive-buffer
    // overflows (/proc/net/snmp RcvbufErrors) are in the figures.
    assert.ok(dropped.unknown_source >= 0.9 * strangers, `unknown_source ${dropped.unknown_source} of ${strangers} strangers' datagrams`);
    assert.ok(dropped.srtp_auth >= 0.9 * spoofedMedia, `srtp_auth ${dropped.srtp_auth} of ${spoofedMedia} replayed/forged`);
    assert.ok(dropped.ice_rejected >= 0.9 * k.forged_check, `ice_rejected ${dropped.ice_rejected} of ${k.forged_check} forged checks`);
    // B's media during the flood: frames still decoded, audio still arriving at its rate.
    assert.ok(quiet.seconds >= 0.5 * FLOOD.seconds && during.seconds >= 0.5 * FLOOD.seconds,
      `windows of ${quiet.seconds} s quiet and ${during.seconds} s flood (browser stats timestamps)`);
    assert.ok(during.audioPps >= 0.8 * quiet.audioPps, `audio ${during.audioPps.toFixed(1)} pkt/s during vs ${quiet.audioPps.toFixed(1)} quiet`);
    assert.ok(during.fps >= 0.5 * quiet.fps && during.fps > 0, `video ${during.fps.toFixed(1)} fps during vs ${quiet.fps.toFixed(1)} quiet`);
    assert.ok(during.energy > MIN_AUDIO_ENERGY, `A's tone still heard (energy ${during.energy})`);
    // And after it: nothing was torn down (no stream went, the legs still carry media).
    const gone = await B.call('events', { type: 'streamDestroyed' });
    assert.strictEqual(gone.length, 0, `streams destroyed during the flood: ${JSON.stringify(gone)}`);
    await waitMediaFlowing(B, pa.streamId, 10000);
  });
  await closeParticipants();
}

// ---- A baresip far end --------------------------------------------------------------------------
// baresip 1.0.0 as an auto-answering UAS: it sends an 880 Hz tone (the browsers send 440 Hz) and
// records what it receives with `sndfile` (as tests/support/baresip.hpp sets it up for the C++
// tests). Started on a free port; killed by PID at the end like sipp.
async function startBaresip() {
  const bdir = fs.mkdtempSync(path.join(dir, 'baresip-'));
  const port = await freeUdpPort();
  const src = path.join(bdir, 'source.wav');
  const made = spawnSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', src, 'synth', '30', 'sine', '880', 'vol', '0.5']);
  if (made.status !== 0) throw new Error(`sox: ${made.stderr}`);
  fs.writeFileSync(path.join(bdir, 'config'), [
    'poll_method epoll', `sip_listen 127.0.0.1:${port}`, 'net_interface 127.0.0.1', 'call_local_timeout 60',
    `audio_source aufile,${src}`, 'audio_player alsa,null', 'audio_alert alsa,null', 'ausrc_srate 48000',
    'ausrc_channels 1', 'rtp_ports 30000-39999', 'module_path /usr/lib/baresip/modules', 'module g711.so',
    'module opus.so', 'module aufile.so', 'module alsa.so', 'module sndfile.so', `snd_path ${bdir}`,
    'module_tmp account.so', 'module_app menu.so', ''].join('\n'));
  fs.writeFileSync(path.join(bdir, 'accounts'), `<sip:uas@127.0.0.1:${port}>;regint=0;answermode=auto;ptime=20\n`);
  const logPath = path.join(bdir, 'baresip.log');
  const out = fs.openSync(logPath, 'w');
  const proc = spawn('baresip', ['-4', '-f', bdir, '-t', '90'], { stdio: ['ignore', out, out], cwd: bdir });
  children.push(proc);
  const log = () => fs.readFileSync(logPath, 'utf8');
  for (let i = 0; i < 100 && !log().includes('baresip is ready.'); i++) await sleep(100);
  if (!log().includes('baresip is ready.')) throw new Error(`baresip did not start: ${log()}`);
  return { port, proc, log, exit: new Promise((res) => proc.on('exit', (c) => res(c))) };
}

// Power of `freq` in 16-bit PCM (Goertzel), normalised by the frame's total power: the share of
// the signal that is this tone.
function toneShare(samples, rate, freq) {
  const w = 2 * Math.PI * freq / rate;
  const k = 2 * Math.cos(w);
  let s1 = 0, s2 = 0, total = 0;
  for (const x of samples) { const s0 = x + k * s1 - s2; s2 = s1; s1 = s0; total += x * x; }
  const p = s1 * s1 + s2 * s2 - k * s1 * s2;
  return total > 0 ? (2 * p / samples.length) / total : 0;
}

// 16-bit PCM of a WAV file's first channel, and its sample rate.
function readWav(file) {
  const b = fs.readFileSync(file);
  let off = 12, rate = 0, channels = 1;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), len = b.readUInt32LE(off + 4);
    if (id === 'fmt ') { channels = b.readUInt16LE(off + 10); rate = b.readUInt32LE(off + 12); }
    if (id === 'data') {
      // The first channel only (baresip records Opus as stereo, interleaved).
      const n = Math.floor((Math.min(len, b.length - off - 8) >> 1) / channels);
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(off + 8 + 2 * i * channels);
      return { rate, samples: out };
    }
    off += 8 + len + (len & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

// ---- Main -------------------------------------------------------------------------------------
(async () => {
  const port = await waitReady();
  apiUrl = `http://127.0.0.1:${port}`;
  ot = new OpenTok(KEY, SECRET, { apiUrl });
  pageServer = await servePage();
  pageUrl = `http://127.0.0.1:${pageServer.address().port}/page.html?proxy=${encodeURIComponent(apiUrl)}`;
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
  browserServer = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`, '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  browser = await chromium.connect(browserServer.wsEndpoint(), { timeout: 30000 });
  await scenarios();
  await finish();
})().catch((e) => {
  results.failed++;
  console.log(`FAIL harness: ${e && e.stack || e}`);
  finish();
});
