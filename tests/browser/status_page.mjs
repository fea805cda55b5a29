// The status page as an administrator sees it: Debian's Chromium, headless, presenting the
// reader's client certificate, trusting the demo's CA (NODE_EXTRA_CA_CERTS). Usage:
//   node status_page.mjs <https://localhost:PORT> <pki dir> <screenshot.png>
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const [url, pki, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const reader = await browser.newContext({
    clientCertificates: [{ origin: url, certPath: `${pki}/reader.pem`, keyPath: `${pki}/reader.key` }],
  });
  const page = await reader.newPage();
  const elsewhere = [];
  page.on('request', (r) => { if (!r.url().startsWith(url)) elsewhere.push(r.url()); });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  const response = await page.goto(`${url}/`);
  // 503 here means Chromium did not trust the agent's certificate.
  assert.equal(response.status(), 200, `GET / answered ${response.status()}`);
  assert.equal(await page.title(), 'easgate');
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /default-src 'none'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');

  // The tiles: the demo's 120 devices, some quarantined, some stale.
  const tiles = await page.locator('.tile').allInnerTexts();
  const tile = (label) => tiles.find((t) => t.includes(label));
  assert.ok(tile('devices')?.startsWith('120'), `tiles: ${tiles}`);
  const quarantined = Number(tile('quarantined').split('\n')[0]);
  assert.ok(quarantined > 0, `tiles: ${tiles}`);
  assert.ok(Number(tile('no sync for 30 days').split('\n')[0]) > 0, `tiles: ${tiles}`);

  // The quarantine queue lists those devices, each with its mailbox and ID.
  const queue = page.locator('h2:has-text("Quarantine queue") + table tr');
  assert.equal(await queue.count(), Math.min(quarantined, 50) + 1, 'a header and a row each');
  assert.match(await queue.nth(1).innerText(), /@contoso\.com.*Quarantined/s);
  // Counts by state and type, and the harvest that filled them.
  assert.match(await page.locator('body').innerText(), /Allowed\s+\d+/);
  assert.match(await page.locator('body').innerText(), /full\s+\d+ s ago\s+120/);

  await page.screenshot({ path: screenshot, fullPage: true });
  assert.deepEqual(elsewhere, [], 'the page loads nothing from anywhere else');
  assert.deepEqual(errors, [], 'no errors in the console');

  // Without a client certificate the agent does not let the browser in.
  const stranger = await browser.newContext();
  await assert.rejects(stranger.newPage().then((p) => p.goto(`${url}/`)),
                       'a browser without a client certificate is refused');
  console.log(`status page: 200, ${quarantined} quarantined listed, screenshot ${screenshot}`);
} finally {
  await browser.close();
}
