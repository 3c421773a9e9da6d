// Drives the real switchboard binary with the official OpenTok Node SDK (npm `opentok`), the way a
// backend would: createSession, generateToken, dial and its error paths, forceDisconnect, signal,
// listStreams. Usage: node node_sdk_test.js /path/to/switchboard
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const assert = require('assert');
const { promisify } = require('util');
const OpenTok = require('opentok');

const KEY = '123456';
const SECRET = '1234567890abcdef1234567890abcdef1234567890';
const bin = process.argv[2];
if (!bin) { console.error('usage: node node_sdk_test.js SWITCHBOARD_BINARY'); process.exit(2); }

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-sdk-'));
const ready = path.join(dir, 'ready.json');
fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
  threads: 2, http: { listen: '127.0.0.1:0' }, sip: { portBase: 0 },
  projects: [{ apiKey: KEY, apiSecret: SECRET }], log: { level: 'warn' },
}));
const server = spawn(bin, ['--config', path.join(dir, 'config.json'), '--ready-file', ready],
  { stdio: ['ignore', 'inherit', 'inherit'] });
let serverExited = null;
server.on('exit', (code, sig) => { serverExited = { code, sig }; });

const deadline = setTimeout(() => { console.error('node_sdk: overall timeout'); finish(1); }, 60000);
function finish(code) {
  clearTimeout(deadline);
  if (serverExited === null) server.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}

async function waitReady() {
  for (let i = 0; i < 200; i++) {
    if (serverExited) throw new Error('server exited early: ' + JSON.stringify(serverExited));
    if (fs.existsSync(ready)) return JSON.parse(fs.readFileSync(ready, 'utf8')).httpPort;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server not ready in 10 s');
}

// A session ID of this project that the server never created (SPEC §5.1 shape).
function unknownSessionId() {
  const raw = `1~${KEY}~~${Date.now()}~abcdefghijklmnopqrstuvwx~`;
  return '1_' + Buffer.from(raw).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const results = { passed: 0, failed: 0 };
async function check(name, fn) {
  try { await fn(); results.passed++; console.log(`ok   ${name}`); }
  catch (e) { results.failed++; console.log(`FAIL ${name}\n     ${e && e.stack || e}`); }
}

(async () => {
  const port = await waitReady();
  const apiUrl = `http://127.0.0.1:${port}`;
  const ot = new OpenTok(KEY, SECRET, { apiUrl });
  const forged = new OpenTok(KEY, 'ffffffffffffffffffffffffffffffffffffffff', { apiUrl });
  const createSession = promisify(ot.createSession.bind(ot));
  const dial = (sid, tok, uri, opts) => new Promise((res) => ot.dial(sid, tok, uri, opts || {}, (err, call) => res({ err, call })));
  let routed, relayed;

  await check('createSession routed', async () => {
    routed = await createSession({ mediaMode: 'routed' });
    assert.match(routed.sessionId, /^1_/);
  });
  await check('createSession relayed (the SDK default)', async () => {
    relayed = await createSession();
    assert.match(relayed.sessionId, /^1_/);
    assert.notStrictEqual(relayed.sessionId, routed.sessionId);
  });
  await check('createSession with archiveMode always', async () => {
    const s = await createSession({ mediaMode: 'routed', archiveMode: 'always' });
    assert.match(s.sessionId, /^1_/);
  });
  await check('createSession refused with a forged secret', async () => {
    await assert.rejects(promisify(forged.createSession.bind(forged))({ mediaMode: 'routed' }));
  });
  let jwtToken, t1Token;
  await check('generateToken (JWT and legacy T1) decodes our session IDs', async () => {
    jwtToken = ot.generateToken(routed.sessionId, { role: 'publisher', data: 'phone=+14155550101' });
    t1Token = ot.generateToken(routed.sessionId, { role: 'publisher', data: 'name=alice' }, true);
    assert.ok(jwtToken.split('.').length === 3);
    assert.match(t1Token, /^T1==/);
  });
  await check('dial with a forged project secret is an AuthError (403)', async () => {
    const r = await new Promise((res) => forged.dial(routed.sessionId, jwtToken, 'sip:a@127.0.0.1', {}, (err) => res(err)));
    assert.ok(r, 'expected an error');
    assert.match(String(r), /Invalid API key or secret|403/i);  // the SDK maps 403 to AuthError
  });
  await check('dial into an unknown session is 404', async () => {
    const sid = unknownSessionId();
    const { err } = await dial(sid, ot.generateToken(sid), 'sip:a@127.0.0.1');
    assert.ok(err);
    assert.match(String(err), /404|not found/i);
  });
  await check('dial into a relayed session is 409', async () => {
    const { err } = await dial(relayed.sessionId, ot.generateToken(relayed.sessionId), 'sip:a@127.0.0.1');
    assert.ok(err);
    assert.match(String(err), /409|Conflict|routed/i);
  });
  await check('dial with a non-SIP URI is 400', async () => {
    const { err } = await dial(routed.sessionId, jwtToken, 'tel:+14155550101');
    assert.ok(err);
    assert.match(String(err), /400|Invalid/i);
  });
  await check('dial with a core header override is 400', async () => {
    const { err } = await dial(routed.sessionId, jwtToken, 'sip:a@127.0.0.1', { headers: { 'Call-ID': 'x' } });
    assert.ok(err);
    assert.match(String(err), /400|Invalid/i);
  });
  // A far end that never answers: a UDP socket that swallows the INVITE. The dial still answers
  // at once with the SIP connection and stream (SPEC §2.2); the call goes on in the background.
  const dgram = require('dgram');
  const sink = dgram.createSocket('udp4');
  await new Promise((r) => sink.bind(0, '127.0.0.1', r));
  let invites = 0;
  sink.on('message', (m) => { if (String(m).startsWith('INVITE ')) invites++; });
  let sipCall;
  await check('dial places the call and answers at once with the seven-field body', async () => {
    for (const tok of [jwtToken, t1Token]) {
      const t0 = Date.now();
      const { err, call } = await dial(routed.sessionId, tok, `sip:alice@127.0.0.1:${sink.address().port};transport=udp`,
        { auth: { username: 'u', password: 'p' }, secure: true, from: '14155550101@example.com', headers: { 'X-Foo': 'bar' } });
      assert.ifError(err);
      assert.ok(Date.now() - t0 < 1000, 'dial must not wait for the far end');
      for (const f of ['id', 'connectionId', 'streamId', 'projectId', 'sessionId', 'createdAt', 'updatedAt']) assert.ok(call[f], f);
      assert.strictEqual(call.sessionId, routed.sessionId);
      sipCall = call;
    }
    for (let i = 0; i < 100 && invites < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(invites >= 2, 'the INVITEs reached the far end');
  });
  await check('listStreams shows the SIP stream', async () => {
    const items = await new Promise((res, rej) => ot.listStreams(routed.sessionId, (e, s) => (e ? rej(e) : res(s))));
    assert.ok(items.some((s) => s.id === sipCall.streamId));
  });
  await check('dial with observeForceMute and streams (an existing stream) is accepted; video:true and unknown streams are 400', async () => {
    const uri = `sip:bob@127.0.0.1:${sink.address().port};transport=udp`;
    const ok = await dial(routed.sessionId, jwtToken, uri, { observeForceMute: true, streams: [sipCall.streamId] });
    assert.ifError(ok.err);
    assert.ok(ok.call.streamId && ok.call.streamId !== sipCall.streamId);
    const unknown = await dial(routed.sessionId, jwtToken, uri, { streams: ['00000000-0000-4000-8000-000000000000'] });
    assert.match(String(unknown.err), /Invalid sip\.streams/);
    const video = await dial(routed.sessionId, jwtToken, uri, { video: true });
    assert.ok(video.err, 'video:true refused');
    assert.match(String(video.err), /Invalid request/);
    await new Promise((res) => ot.forceDisconnect(routed.sessionId, ok.call.connectionId, () => res()));
  });
  await check('forceMuteStream, forceMuteAll (excludedStreamIds) and disableForceMute succeed; an unknown stream fails', async () => {
    const call = (fn, ...args) => new Promise((res) => fn.call(ot, ...args, (e) => res(e)));
    assert.ifError(await call(ot.forceMuteStream, routed.sessionId, sipCall.streamId));
    assert.ifError(await call(ot.forceMuteAll, routed.sessionId, { excludedStreamIds: [sipCall.streamId] }));
    assert.ifError(await call(ot.disableForceMute, routed.sessionId));
    assert.ok(await call(ot.forceMuteStream, routed.sessionId, '00000000-0000-4000-8000-000000000000'));
  });
  await check('playDTMF: bad digits refused; a SIP call not answered yet is 404 (not connected)', async () => {
    const call = (...args) => new Promise((res) => ot.playDTMF(...args, (e) => res(e)));
    assert.ok(await call(routed.sessionId, sipCall.connectionId, '12x'));
    assert.match(String(await call(routed.sessionId, sipCall.connectionId, '1234#')), /404|not found/i);
  });
  await check('forceDisconnect of the SIP connection is accepted (CANCEL/BYE follows)', async () => {
    const err = await new Promise((res) => ot.forceDisconnect(routed.sessionId, sipCall.connectionId, (e) => res(e)));
    assert.ifError(err);
  });
  await check('forceDisconnect of an unknown connection is 404', async () => {
    const err = await new Promise((res) => ot.forceDisconnect(routed.sessionId, '00000000-0000-4000-8000-000000000000', (e) => res(e)));
    assert.ok(err);
    assert.match(String(err), /not found|404/i);
  });
  await check('signal to the whole session succeeds (204)', async () => {
    const err = await new Promise((res) => ot.signal(routed.sessionId, null, { type: 'chat', data: 'hello' }, (e) => res(e)));
    assert.ifError(err);
  });
  await check('signal to an unknown connection fails (404)', async () => {
    const err = await new Promise((res) => ot.signal(routed.sessionId, 'nope', { type: 'chat', data: 'x' }, (e) => res(e)));
    assert.ok(err);
  });
  await check('listStreams of a new session is empty', async () => {
    const fresh = await createSession({ mediaMode: 'routed' });
    const items = await new Promise((res, rej) => ot.listStreams(fresh.sessionId, (e, s) => (e ? rej(e) : res(s))));
    assert.deepStrictEqual(items, []);
  });

  // Callback registration (SPEC §4.7): the SDK's registerCallback / listCallbacks /
  // unregisterCallback round trip, and a URL that is not http(s) refused.
  await check('registerCallback, listCallbacks, unregisterCallback round trip; a non-http URL is refused', async () => {
    const register = promisify(ot.registerCallback.bind(ot));
    const list = promisify(ot.listCallbacks.bind(ot));
    const unregister = promisify(ot.unregisterCallback.bind(ot));
    const url = 'http://127.0.0.1:9/sdk-hooks';
    const cb = await register({ group: 'connection', event: 'created', url });
    assert.ok(cb.id, `no id in ${JSON.stringify(cb)}`);
    assert.strictEqual(cb.group, 'connection');
    assert.strictEqual(cb.event, 'created');
    assert.strictEqual(cb.url, url);
    const listed = await list();
    assert.ok(listed.some((c) => c.id === cb.id && c.url === url), `not listed: ${JSON.stringify(listed)}`);
    await unregister(cb.id);
    assert.ok(!(await list()).some((c) => c.id === cb.id), 'still listed after unregisterCallback');
    await assert.rejects(register({ group: 'connection', event: 'created', url: 'ftp://127.0.0.1/x' }));
  });

  // Graceful drain: SIGTERM makes the server exit 0.
  await check('SIGTERM drains and exits 0', async () => {
    server.kill('SIGTERM');
    for (let i = 0; i < 200 && serverExited === null; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepStrictEqual(serverExited, { code: 0, sig: null });
  });
  sink.close();
  console.log(`${results.passed} passed, ${results.failed} failed`);
  finish(results.failed === 0 ? 0 : 1);
})().catch((e) => { console.error(e); finish(1); });
