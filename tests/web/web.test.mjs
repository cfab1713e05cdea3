// Browser tests of the bucketd web pages: headless Chromium (Debian package)
// driven by playwright-core, against a real bucketd started by
// tests/integration/web.sh. Env: BK_URL, TOK_ALICE, TOK_BOB, SHOTS, CHROMIUM.
// Prints "N passed, N failed" last.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const BASE = process.env.BK_URL;
const ALICE = process.env.TOK_ALICE;
const BOB = process.env.TOK_BOB;
const SHOTS = process.env.SHOTS || path.join(os.tmpdir(), 'web-shots');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';
if (!BASE || !ALICE || !BOB) {
  console.log('missing BK_URL / TOK_ALICE / TOK_BOB');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(BASE)) throw new Error('tests only talk to 127.0.0.1');
fs.mkdirSync(SHOTS, { recursive: true });

let passed = 0, failed = 0;
// a stray rejection in an event handler must not end the run without the summary line
process.on('unhandledRejection', (e) => { failed++; console.log(`FAIL unhandled rejection — ${String(e && e.message || e)}`); });
function ok(name) { passed++; console.log(`ok   ${name}`); }
function fail(name, detail) { failed++; console.log(`FAIL ${name}${detail ? ' — ' + detail : ''}`); }
function check(name, cond, detail) { cond ? ok(name) : fail(name, detail); }
async function step(name, fn) {
  try { await fn(); } catch (e) { fail(name, String(e && e.stack || e).split('\n').slice(0, 3).join(' | ')); }
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const dirs = [];
async function newBrowserContext(opts = {}) {
  const ud = fs.mkdtempSync(path.join(os.tmpdir(), 'bk-chromium-'));
  dirs.push(ud);
  const ctx = await chromium.launchPersistentContext(ud, {
    executablePath: EXE, headless: true, args: ARGS, acceptDownloads: true,
    viewport: opts.viewport || { width: 1200, height: 900 },
  });
  // every request must stay on bucketd
  ctx.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(BASE + '/') && !u.startsWith('data:') && !u.startsWith('blob:') && u !== 'about:blank')
      externalRequests.push(u);
  });
  return ctx;
}
const externalRequests = [];
const dialogs = [];
function watchDialogs(page) {
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function api(method, p, token, body, headers = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const r = await fetch(BASE + p, { method, headers: h, body, redirect: 'manual' });
  return r;
}

async function signIn(page, token) {
  await page.goto(BASE + '/login');
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
}

async function uploadViaPicker(page, files) {
  await page.setInputFiles('#files', files);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Upload' }).click()]);
}

const enc = (s) => Buffer.from(s, 'utf8');
const CSV = 'name,count,note\nalpha,1,"has, comma"\n<b>beta</b>,2,"multi ""quoted"""\n';
const JSONDOC = '{"model":"tiny","layers":[1,2,3],"html":"<img src=x onerror=alert(1)>"}';
const XSS = '<script>alert(1)</script>.txt';

const main = async () => {
  // ---- setup through the Hub API ----
  let r = await api('POST', '/api/buckets/alice/pub', ALICE, JSON.stringify({ private: false }), { 'Content-Type': 'application/json' });
  check('api: create public bucket alice/pub', r.status === 200 || r.status === 201, `status ${r.status}`);
  r = await api('POST', '/api/buckets/alice/secret', ALICE, JSON.stringify({ private: true }), { 'Content-Type': 'application/json' });
  check('api: create private bucket alice/secret', r.status === 200 || r.status === 201, `status ${r.status}`);

  const ctx = await newBrowserContext();
  const page = await ctx.newPage();
  watchDialogs(page);

  await step('signed-out home and headers', async () => {
    const resp = await page.goto(BASE + '/');
    check('home answers 200', resp.status() === 200, `status ${resp.status()}`);
    const h = resp.headers();
    check('CSP header without inline script', (h['content-security-policy'] || '').includes("script-src 'self'"), h['content-security-policy']);
    check('X-Content-Type-Options nosniff', h['x-content-type-options'] === 'nosniff');
    const html = await resp.text();
    check('HTML5 doctype and lang', html.startsWith('<!DOCTYPE html>') && html.includes('<html lang="en">'));
    check('signed out: Sign in link shown', await page.locator('header').getByRole('link', { name: 'Sign in' }).isVisible());
    await shot(page, '01-home-signed-out');
  });

  await step('sign in', async () => {
    await page.goto(BASE + '/login');
    await shot(page, '02-login');
    check('token field has a label', await page.getByLabel('Access token').count() === 1);
    // wrong token first
    await page.getByLabel('Access token').fill('hf_wrongwrongwrongwrongwrongwrongwrongwro');
    await page.getByRole('button', { name: 'Sign in' }).click();
    check('bad token refused', await page.getByRole('alert').isVisible());
    await signIn(page, ALICE);
    check('signed in: user name in header', await page.locator('header').getByText('alice').first().isVisible());
    const cookies = await ctx.cookies(BASE);
    const sc = cookies.find((c) => c.name === 'bk_session');
    check('session cookie HttpOnly + SameSite=Strict', sc && sc.httpOnly && sc.sameSite === 'Strict', JSON.stringify(sc));
    check('session cookie is not the token', sc && !sc.value.includes(ALICE) && sc.value.length === 64);
    const docCookie = await page.evaluate(() => document.cookie);
    check('session cookie not readable by scripts', !docCookie.includes('bk_session'));
  });

  await step('namespace page + create bucket', async () => {
    await page.goto(BASE + '/alice');
    const rows = page.locator('table.list tbody tr');
    const text = await rows.allTextContents();
    check('namespace lists pub and secret', text.some((t) => t.includes('pub')) && text.some((t) => t.includes('secret')), text.join('|'));
    check('private badge shown', text.some((t) => t.includes('secret') && t.includes('private')));
    await page.getByLabel('Name').fill('made-in-web');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Create bucket' }).click()]);
    check('create bucket redirects to its page', page.url().startsWith(BASE + '/buckets/alice/made-in-web'), page.url());
    await shot(page, '03-new-bucket');
  });

  await step('upload with the file picker', async () => {
    await page.goto(BASE + '/buckets/alice/pub');
    await uploadViaPicker(page, [
      { name: 'hello.txt', mimeType: 'text/plain', buffer: enc('hello world\n<i>not italic</i>\n') },
      { name: 'data.csv', mimeType: 'text/csv', buffer: enc(CSV) },
      { name: 'obj.json', mimeType: 'application/json', buffer: enc(JSONDOC) },
      { name: 'logs.json', mimeType: 'application/json', buffer: enc('{"keep":true}') },
      { name: XSS, mimeType: 'text/plain', buffer: enc('xss payload file') },
      { name: '"><img src=x onerror=alert(2)>.csv', mimeType: 'text/csv', buffer: enc('<svg onload=alert(3)>,x\n1,2\n') },
    ]);
    check('upload flash message', (await page.locator('.flash').textContent() || '').includes('Uploaded 6'), await page.locator('.flash').textContent());
    const names = await page.locator('table.tree tbody tr td:first-child').allTextContents();
    check('uploaded files listed', ['hello.txt', 'data.csv', 'obj.json', 'logs.json'].every((n) => names.some((t) => t.includes(n))), names.join('|'));
    // into a folder: open /tree/logs is 404 until it exists, so upload with prefix via the folder form
    await page.goto(BASE + '/buckets/alice/pub');
    await page.evaluate(() => { document.querySelector('input[name=prefix]').value = 'logs'; });
    await uploadViaPicker(page, [
      { name: 'a.txt', mimeType: 'text/plain', buffer: enc('log a\n') },
      { name: 'b.txt', mimeType: 'text/plain', buffer: enc('log b\n') },
    ]);
    check('upload into folder lands in /tree/logs', page.url().includes('/buckets/alice/pub/tree/logs'), page.url());
    await shot(page, '04-folder-logs');
  });

  await step('browse: folders first, breadcrumbs, totals, URI', async () => {
    await page.goto(BASE + '/buckets/alice/pub');
    const first = await page.locator('table.tree tbody tr').first().getAttribute('class');
    check('folders first', first === 'dir', first);
    check('totals shown', (await page.locator('dl.totals').textContent()).includes('Dedup ratio'));
    check('hf:// URI shown', await page.locator('#uri').inputValue() === 'hf://buckets/alice/pub');
    check('sync command shown', (await page.locator('#synccmd').inputValue()).startsWith('hf buckets sync hf://buckets/alice/pub'));
    const logsRow = await page.locator('table.tree tr.dir', { hasText: 'logs/' }).textContent();
    check('folder row shows its size and file count', logsRow.includes('12 B') && logsRow.includes('(2 files)'), logsRow);
    await page.getByRole('link', { name: 'logs/' }).click();
    await page.waitForLoadState('load');
    check('folder totals shown', (await page.locator('main p.hint').first().textContent()).startsWith('This folder: 2 files, 12 B'));
    const crumbs = await page.locator('nav.crumbs li').allTextContents();
    check('breadcrumbs to folder', crumbs.join('/') === 'buckets/alice/pub/logs', crumbs.join('/'));
    await page.getByRole('link', { name: 'pub' }).click();
    check('breadcrumb goes back to root', page.url() === BASE + '/buckets/alice/pub', page.url());
    await shot(page, '05-bucket');
  });

  await step('XSS file name renders inert', async () => {
    await page.goto(BASE + '/buckets/alice/pub');
    const body = await page.content();
    check('no injected script element', await page.locator('script:not([src])').count() === 0);
    check('escaped name present', body.includes('&lt;script&gt;alert(1)&lt;'), 'escaped text missing');
    // follow the link(s) of the xss entry (folder or file, depending on how the browser named it)
    const link = page.locator('table.tree a', { hasText: 'alert(1)' }).first();
    await link.click();
    await page.waitForLoadState('load');
    const again = page.locator('table.tree a', { hasText: 'script>' });
    if (await again.count()) { await again.first().click(); await page.waitForLoadState('load'); }
    await shot(page, '06-xss');
    await page.goto(BASE + '/buckets/alice/pub');
    check('attribute-breaking name stays text', await page.locator('main img, main svg').count() === 0);
    await page.locator('table.tree a', { hasText: 'onerror=alert(2)' }).click();
    await page.waitForLoadState('load');
    check('markup in CSV cells stays text', await page.locator('.preview svg').count() === 0 &&
      (await page.locator('.preview th').first().textContent()) === '<svg onload=alert(3)>');
    await shot(page, '06b-xss-csv');
    await page.waitForTimeout(300);
    check('no dialog fired', dialogs.length === 0, dialogs.join('|'));
  });

  await step('preview text, CSV, JSON', async () => {
    await page.goto(BASE + '/buckets/alice/pub/blob/hello.txt');
    const pre = await page.locator('.preview pre').textContent();
    check('text preview escaped', pre.includes('<i>not italic</i>') && await page.locator('.preview i').count() === 0);
    check('file page shows xet hash', /^[0-9a-f]{64}$/.test((await page.locator('code.hash').textContent()).trim()));
    await page.goto(BASE + '/buckets/alice/pub/blob/data.csv');
    const ths = await page.locator('.preview table th').allTextContents();
    check('CSV header row', ths.join(',') === 'name,count,note', ths.join(','));
    const cells = await page.locator('.preview table td').allTextContents();
    check('CSV quoting and escaping', cells.includes('has, comma') && cells.includes('<b>beta</b>') && cells.includes('multi "quoted"'), cells.join('|'));
    await shot(page, '07-csv');
    await page.goto(BASE + '/buckets/alice/pub/blob/obj.json');
    const js = await page.locator('.preview pre').textContent();
    check('JSON pretty-printed', js.includes('"layers"') && js.includes('\n'), js);
    check('JSON html inert', await page.locator('.preview img').count() === 0);
    await shot(page, '08-json');
  });

  await step('download', async () => {
    await page.goto(BASE + '/buckets/alice/pub/blob/hello.txt');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    const p = await dl.path();
    const got = fs.readFileSync(p, 'utf8');
    check('downloaded bytes match', got === 'hello world\n<i>not italic</i>\n', JSON.stringify(got));
    check('download link uses /resolve/', dl.url() === BASE + '/buckets/alice/pub/resolve/hello.txt', dl.url());
  });

  await step('pagination over 150 files', async () => {
    await page.goto(BASE + '/buckets/alice/pub');
    const csrf = await page.locator('#upload-form input[name=csrf]').inputValue();
    const multipart = { csrf, prefix: 'many' };
    const files = [];
    for (let i = 0; i < 150; i++) files.push({ name: `file-${String(i).padStart(3, '0')}.txt`, mimeType: 'text/plain', buffer: enc(`n=${i}\n`) });
    // one multipart post with 150 parts named "files"
    const boundary = '----bkweb' + Date.now();
    const parts = [];
    for (const [k, v] of Object.entries(multipart)) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
    for (const f of files) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${f.name}"\r\nContent-Type: text/plain\r\n\r\n`));
      parts.push(f.buffer, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    const resp = await page.request.post(BASE + '/buckets/alice/pub/upload', {
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, Origin: BASE },
      data: Buffer.concat(parts), maxRedirects: 0,
    });
    check('bulk upload accepted', resp.status() === 303, `status ${resp.status()}`);
    await page.goto(BASE + '/buckets/alice/pub/tree/many');
    let rows = await page.locator('table.tree tbody tr').count();
    check('first page has 100 rows', rows === 100, `${rows}`);
    await shot(page, '09-page1');
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForLoadState('load');
    rows = await page.locator('table.tree tbody tr').count();
    check('second page has 50 rows', rows === 50, `${rows}`);
    check('no next link on last page', await page.getByRole('link', { name: 'Next page' }).count() === 0);
    const firstName = await page.locator('table.tree tbody tr td:first-child').first().textContent();
    check('second page starts at file-100', firstName.includes('file-100'), firstName);
    await page.getByLabel('Filter this folder').fill('file-12');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Filter' }).click()]);
    const fl = await page.locator('table.tree tbody tr td:first-child').allTextContents();
    check('filter keeps matching names', fl.length === 10 && fl.every((t) => t.includes('file-12')), fl.join('|'));
    await shot(page, '10-filter');
  });

  await step('delete folder respects path boundary', async () => {
    await page.goto(BASE + '/buckets/alice/pub/tree/logs');
    await page.getByRole('link', { name: 'Delete this folder…' }).click();
    await page.waitForLoadState('load');
    check('confirmation page', (await page.locator('h1').textContent()).includes('Delete folder'));
    check('confirmation counts 2 files', (await page.locator('main').textContent()).includes('2 file(s)'));
    await shot(page, '11-confirm-delete');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Delete' }).click()]);
    const names = await page.locator('table.tree tbody tr td:first-child').allTextContents();
    check('logs/ removed', !names.some((t) => t.trim() === 'logs/'), names.join('|'));
    check('logs.json kept', names.some((t) => t.includes('logs.json')), names.join('|'));
  });

  await step('delete one file', async () => {
    await page.goto(BASE + '/buckets/alice/pub/blob/obj.json');
    await page.getByRole('link', { name: 'Delete…' }).click();
    await page.waitForLoadState('load');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Delete' }).click()]);
    const names = await page.locator('table.tree tbody tr td:first-child').allTextContents();
    check('obj.json deleted', !names.some((t) => t.includes('obj.json')), names.join('|'));
  });

  await step('CSRF: form post without token refused', async () => {
    const resp = await page.request.post(BASE + '/buckets/alice/pub/delete', {
      form: { path: 'hello.txt', kind: 'file' }, maxRedirects: 0,
    });
    check('delete without csrf is 403', resp.status() === 403, `status ${resp.status()}`);
    const r2 = await api('GET', '/api/buckets/alice/pub/tree?recursive=false', ALICE);
    const tree = await r2.json();
    check('file still there', tree.some((e) => e.path === 'hello.txt'));
  });

  await step('private bucket content and download when signed in', async () => {
    await page.goto(BASE + '/buckets/alice/secret');
    await uploadViaPicker(page, [{ name: 'weights.txt', mimeType: 'text/plain', buffer: enc('secret weights\n') }]);
    await page.goto(BASE + '/buckets/alice/secret/blob/weights.txt');
    check('owner sees private preview', (await page.locator('.preview pre').textContent()).includes('secret weights'));
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    check('owner downloads private file with the session cookie', fs.readFileSync(await dl.path(), 'utf8') === 'secret weights\n');
    const anon = await fetch(BASE + '/buckets/alice/secret/resolve/weights.txt');
    check('anonymous resolve of private file refused', anon.status === 401 || anon.status === 404, `${anon.status}`);
  });

  await step('uploads are chunked and deduplicated by the server', async () => {
    const r0 = await api('POST', '/api/buckets/alice/dedup', ALICE, '{}', { 'Content-Type': 'application/json' });
    check('api: create alice/dedup', r0.status === 200 || r0.status === 201, `${r0.status}`);
    // incompressible but seeded (SplitMix64), so the chunk boundaries, and with
    // them the stored-bytes figures checked below, are the same on every run
    const big = Buffer.alloc(600 * 1024);
    {
      let st = 0x5eed1234n;
      const M = (1n << 64n) - 1n;
      for (let i = 0; i < big.length; i += 8) {
        st = (st + 0x9e3779b97f4a7c15n) & M;
        let z = st;
        z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
        z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
        big.writeBigUInt64LE(z ^ (z >> 31n), i);
      }
    }
    const bytesOf = (t) => {
      const m = /([\d.]+) (B|KiB|MiB)/.exec(t || '');
      return m ? parseFloat(m[1]) * { B: 1, KiB: 1024, MiB: 1048576 }[m[2]] : NaN;
    };
    const stored = async () => bytesOf((await page.locator('dl.totals dd').allTextContents())[2]);
    await page.goto(BASE + '/buckets/alice/dedup');
    await uploadViaPicker(page, [{ name: 'ckpt-1.bin', mimeType: 'application/octet-stream', buffer: big }]);
    const s1 = await stored();
    // on failure, say what the server holds: the page's totals, the file as the API sees it
    // (size, xetHash) and its reconstruction (terms), so a wrong figure can be traced
    const totals = (await page.locator('dl.totals dd').allTextContents()).join(' | ');
    const info = await (await api('GET', '/api/buckets/alice/dedup/tree?recursive=true', ALICE)).text();
    check('first upload arrived whole', bytesOf(totals.split(' | ')[1]) > 590 * 1024 && bytesOf(totals.split(' | ')[1]) < 610 * 1024, `totals: ${totals}; tree: ${info}`);
    // a body that reached the server altered (e.g. a repeated block) would dedup against itself
    const back = Buffer.from(await (await fetch(BASE + '/buckets/alice/dedup/resolve/ckpt-1.bin',
      { headers: { Authorization: 'Bearer ' + ALICE } })).arrayBuffer());
    check('first upload downloads byte-exact', Buffer.compare(back, big) === 0, `${back.length} bytes back`);
    check('first upload stored about its size', s1 > 550 * 1024 && s1 < 700 * 1024, `${s1}; totals: ${totals}; tree: ${info}`);
    await uploadViaPicker(page, [{ name: 'ckpt-1-copy.bin', mimeType: 'application/octet-stream', buffer: big }]);
    const s2 = await stored();
    check('identical file adds no stored bytes', s2 === s1, `${s1} -> ${s2}`);
    const changed = Buffer.concat([big.subarray(0, 400 * 1024), Buffer.from('a small edit'), big.subarray(400 * 1024)]);
    await uploadViaPicker(page, [{ name: 'ckpt-2.bin', mimeType: 'application/octet-stream', buffer: changed }]);
    const s3 = await stored();
    check('edited file stores only the changed chunks', s3 > s2 && s3 - s2 < 300 * 1024, `${s2} -> ${s3}`);
    const ratio = (await page.locator('dl.totals dd').allTextContents())[3];
    check('dedup ratio above 2x', parseFloat(ratio) > 2, ratio);
    const [dl] = await Promise.all([page.waitForEvent('download'),
      page.goto(BASE + '/buckets/alice/dedup/blob/ckpt-2.bin').then(() => page.getByRole('link', { name: 'Download' }).click())]);
    check('edited file downloads byte-exact', Buffer.compare(fs.readFileSync(await dl.path()), changed) === 0);
    await page.goto(BASE + '/buckets/alice/dedup');
    await shot(page, '15-dedup');
  });

  await step('drag and drop onto the upload form (optional JS)', async () => {
    await page.goto(BASE + '/buckets/alice/pub');
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped bytes\n'], 'dropped.txt', { type: 'text/plain' }));
      const form = document.getElementById('upload-form');
      form.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      form.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    check('drop fills the picker', (await page.locator('#dropzone').textContent()).includes('1 file(s) ready'));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Upload' }).click()]);
    check('dropped file uploaded', (await page.locator('table.tree').textContent()).includes('dropped.txt'));
  });

  await step('cross-origin form post refused', async () => {
    await page.goto(BASE + '/buckets/alice/pub');
    const csrf = await page.locator('#upload-form input[name=csrf]').inputValue();
    const r1 = await page.request.post(BASE + '/buckets/alice/pub/delete', {
      form: { csrf, path: 'hello.txt', kind: 'file' }, headers: { Origin: 'http://evil.invalid' }, maxRedirects: 0 });
    check('valid csrf but foreign Origin is 403', r1.status() === 403, `${r1.status()}`);
    const r2 = await page.request.post(BASE + '/buckets/alice/pub/delete', {
      form: { csrf: 'a'.repeat(64), path: 'hello.txt', kind: 'file' }, maxRedirects: 0 });
    check('forged csrf is 403', r2.status() === 403, `${r2.status()}`);
    const head = await fetch(BASE + '/', { method: 'HEAD' });
    check('HEAD / answers 200 without a body', head.status === 200 && (await head.text()) === '');
  });

  await step('read-only token and revocation', async () => {
    const rctx = await newBrowserContext();
    const rp = await rctx.newPage();
    await signIn(rp, process.env.TOK_ALICE_READ);
    await rp.goto(BASE + '/buckets/alice/secret');
    check('read token: private bucket visible', (await rp.locator('table.tree').textContent()).includes('weights.txt'));
    check('read token: no upload form', await rp.locator('#upload-form').count() === 0);
    check('read token: no visibility form', await rp.locator('#vis').count() === 0);
    // BK_STORE_ARGS: the server's store arguments, one a line (--data DIR, or --db URL --blobs URL)
    execFileSync(process.env.BK_BUCKETD, ['token', 'revoke', process.env.TOK_ALICE_READ_ID,
      ...process.env.BK_STORE_ARGS.split('\n').filter(Boolean)]);
    const resp = await rp.goto(BASE + '/buckets/alice/secret');
    check('revoked token ends the session', resp.status() === 404 && await rp.locator('header').getByRole('link', { name: 'Sign in' }).count() === 1, `${resp.status()}`);
    await rctx.close();
  });

  await step('narrow screen and keyboard', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(BASE + '/buckets/alice/pub');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check('no horizontal overflow at 360px', overflow <= 1, `${overflow}px`);
    await shot(page, '12-narrow');
    const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.outerHTML));
    check('every control has a label', unlabeled.length === 0, unlabeled.join(' '));
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.goto(BASE + '/buckets/alice/pub');
    await page.keyboard.press('Tab');
    const first = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    check('first Tab reaches the skip link', first === 'Skip to content', first);
    // tab to the filter box and submit with Enter
    await page.locator('#q').focus();
    await page.keyboard.type('hello');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('filter works from the keyboard', page.url().includes('q=hello'), page.url());
  });

  await step('visibility change by admin', async () => {
    await page.goto(BASE + '/buckets/alice/made-in-web');
    await page.locator('#vis').selectOption('private');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save' }).click()]);
    check('badge says private', (await page.locator('h1 .badge').textContent()).trim() === 'private');
  });

  await step('private buckets invisible when signed out', async () => {
    const anon = await newBrowserContext();
    const ap = await anon.newPage();
    watchDialogs(ap);
    let resp = await ap.goto(BASE + '/buckets/alice/secret');
    check('anonymous: private bucket 404', resp.status() === 404, `${resp.status()}`);
    resp = await ap.goto(BASE + '/buckets/alice/secret/blob/weights.txt');
    check('anonymous: private file 404', resp.status() === 404, `${resp.status()}`);
    await ap.goto(BASE + '/alice');
    const t = await ap.locator('main').textContent();
    check('anonymous: namespace hides private buckets', t.includes('pub') && !t.includes('secret') && !t.includes('made-in-web'), t);
    check('anonymous: no create form', await ap.getByRole('button', { name: 'Create bucket' }).count() === 0);
    resp = await ap.goto(BASE + '/buckets/alice/pub');
    check('anonymous: public bucket visible', resp.status() === 200);
    check('anonymous: no upload form', await ap.locator('#upload-form').count() === 0);
    await shot(ap, '13-anonymous');
    await ap.goto(BASE + '/buckets/alice/secret/tree/x');
    await ap.getByRole('link', { name: 'Sign in' }).last().click();
    await ap.getByLabel('Access token').fill(ALICE);
    await Promise.all([ap.waitForNavigation(), ap.getByRole('button', { name: 'Sign in' }).click()]);
    check('sign in from a 404 comes back to the page', ap.url() === BASE + '/buckets/alice/secret/tree/x', ap.url());
    await anon.close();
  });

  await step('private buckets invisible to another user', async () => {
    const bctx = await newBrowserContext();
    const bp = await bctx.newPage();
    await signIn(bp, BOB);
    const resp = await bp.goto(BASE + '/buckets/alice/secret');
    check('bob: private bucket 404', resp.status() === 404, `${resp.status()}`);
    await bp.goto(BASE + '/alice');
    const t = await bp.locator('main').textContent();
    check('bob: namespace hides private buckets', !t.includes('secret'), t);
    await bp.goto(BASE + '/buckets/alice/pub');
    check('bob: cannot upload to alice/pub', await bp.locator('#upload-form').count() === 0);
    const csrf = await bp.locator('header input[name=csrf]').inputValue();
    const r = await bp.request.post(BASE + '/buckets/alice/pub/delete', { form: { csrf, path: 'hello.txt', kind: 'file' }, maxRedirects: 0 });
    check('bob: delete refused', r.status() === 403, `${r.status()}`);
    await shot(bp, '14-bob');
    // org membership: bob reads acme's private bucket, cannot write it
    const r3 = await api('POST', '/api/buckets/acme/team', ALICE, JSON.stringify({ private: true }), { 'Content-Type': 'application/json' });
    check('api: alice creates private acme/team', r3.status === 200 || r3.status === 201, `${r3.status}`);
    await bp.goto(BASE + '/');
    check('bob: home lists org acme', (await bp.locator('main').textContent()).includes('acme'));
    await bp.goto(BASE + '/acme');
    check('bob (read member): sees private org bucket', (await bp.locator('main').textContent()).includes('team'));
    check('bob (read member): no create form', await bp.getByRole('button', { name: 'Create bucket' }).count() === 0);
    const rt = await bp.goto(BASE + '/buckets/acme/team');
    check('bob (read member): opens it, no upload form', rt.status() === 200 && await bp.locator('#upload-form').count() === 0);
    const anonTeam = await fetch(BASE + '/buckets/acme/team');
    check('anonymous: private org bucket 404', anonTeam.status === 404, `${anonTeam.status}`);
    await bctx.close();
  });

  await step('sign out', async () => {
    await page.goto(BASE + '/');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign out' }).click()]);
    check('signed out: Sign in link back', await page.locator('header').getByRole('link', { name: 'Sign in' }).isVisible());
    const resp = await page.goto(BASE + '/buckets/alice/secret');
    check('after sign-out private bucket is 404', resp.status() === 404, `${resp.status()}`);
  });

  check('no request left 127.0.0.1', externalRequests.length === 0, externalRequests.join(' '));
  check('no dialog fired anywhere', dialogs.length === 0, dialogs.join('|'));
  await ctx.close();
};

try {
  await main();
} catch (e) {
  fail('test run', String(e && e.stack || e));
} finally {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
