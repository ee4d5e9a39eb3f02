// Screenshot of a live dashboard once the run has reached a step:
//   node docs/img/screenshot.js URL OUT.png STEP
// Uses Debian's chromium through puppeteer-core (no downloaded browser).
const puppeteer = require('puppeteer-core');

async function main() {
  const [url, out, step] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: process.env.SSLIGHT_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 1000 });
    // The server may still be starting: retry until it answers.
    for (let i = 0; ; i++) {
      try {
        await page.goto(url, { waitUntil: 'domcontentloaded' });
        break;
      } catch (e) {
        if (i > 600) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    await page.waitForFunction(
      (s) => Number((document.getElementById('step').textContent || '').split('/')[0]) >= s,
      { timeout: 0, polling: 500 },
      Number(step),
    );
    await page.screenshot({ path: out });
  } finally {
    await browser.close();
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
