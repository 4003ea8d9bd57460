// Loads each Chrome JSON (served at BASE/NAME) in speedscope, in Debian's
// Chromium, and prints what its importer said: every console message and
// page error but the WebGL driver's, one a line, prefixed with the file.
//   node speedscope_import.js NODE_MODULES BASE NAME...
const { chromium } = require(process.argv[2] + '/playwright-core');
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  for (const name of process.argv.slice(4)) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const said = [];
    page.on('console', (m) => { if (!/WebGL|GL Driver|GPU stall/.test(m.text())) said.push(m.type() + ': ' + m.text()); });
    page.on('pageerror', (e) => said.push('pageerror: ' + e.message));
    const base = process.argv[3];
    await page.goto(base + '/index.html#profileURL=' + base + '/' + name);
    await page.waitForTimeout(3000);
    for (const s of said) console.log(name + ' ' + s.replace(/\n/g, ' '));
    await page.close();
  }
  await browser.close();
})().catch((e) => { console.log('FATAL ' + e.message); process.exit(1); });
