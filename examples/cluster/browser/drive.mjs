// Drives the cluster's own Next.js client in headless Chromium through a
// purchase, against the Go back end behind the ingress (run.sh starts
// them): the seller signs up and puts a ticket on sale, signs out; the
// buyer signs up, orders the ticket and pays; the order is complete in
// the buyer's orders and the ticket is off the list. Every step is
// checked on the page and kept as a screenshot in SCREENSHOTS.
//
// Stripe's checkout.js can't load without the internet, so the browser
// gets a stand-in for it that hands the page's own token callback
// Stripe's test token tok_visa: the payment is then the client's own
// request (POST /api/payments {orderId, token}) from its own code.
//
// Env: BASE_URL (the ingress), SCREENSHOTS (a directory), CHROMIUM
// (/usr/bin/chromium).
import { mkdirSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOTS;
if (!base || !shots) throw new Error('BASE_URL and SCREENSHOTS must be set');
mkdirSync(shots, { recursive: true });

const stripeStandIn = `
window.StripeCheckout = {
  configure(options) {
    window.__stripeConfigured = options;
    return {
      open(config) {
        window.__stripeOpened = { amount: config.amount, email: config.email };
        if (config.opened) config.opened();
        setTimeout(() => {
          config.token({ id: 'tok_visa', object: 'token', email: config.email });
          if (config.closed) config.closed();
        }, 0);
      },
      close() {},
    };
  },
};`;

const run = Date.now().toString(36);
const seller = { email: `seller-${run}@test.com`, password: 'password1' };
const buyer = { email: `buyer-${run}@test.com`, password: 'password2' };
const title = `Concert ${run}`;

let step = 0;
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-proxy-server'],
});
const failures = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 900, height: 400 });
  page.setDefaultTimeout(60_000);
  // Every load a full response (no 304), so its server-rendered HTML can be checked.
  await page.setCacheEnabled(false);
  page.on('console', (m) => {
    if ((m.type() === 'error' || m.type() === 'warn') && !m.text().startsWith('Failed to load resource')) {
      console.log(`  [page ${m.type()}] ${m.text()}`);
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400) console.log(`  [${r.request().method()} ${r.url().replace(base, '')}: ${r.status()}]`);
  });
  page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const u = req.url();
    if (u.startsWith(base)) return req.continue();
    if (u === 'https://checkout.stripe.com/checkout.js') {
      return req.respond({ status: 200, contentType: 'application/javascript', body: stripeStandIn });
    }
    console.log(`  [blocked] ${u}`);
    return req.abort();
  });

  const shot = async (name) => {
    step++;
    const file = `${shots}/${String(step).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path: file });
    console.log(`ok ${step} ${name} (${file})`);
  };
  const text = () => page.evaluate(() => document.body.innerText);
  const waitText = (s) =>
    page.waitForFunction((s) => document.body.innerText.includes(s), {}, s).catch(async (e) => {
      throw new Error(`waiting for ${JSON.stringify(s)} on ${page.url()}: ${e.message}\npage text: ${await text()}`);
    });
  const waitPath = (re) =>
    page.waitForFunction((re) => new RegExp(re).test(location.pathname), {}, re.source).catch((e) => {
      throw new Error(`waiting for a path like ${re} on ${page.url()}: ${e.message}`);
    });
  const typeInto = async (label, value) => {
    const [input] = await page.$$(`xpath/.//label[text()="${label}"]/following-sibling::input`);
    if (!input) throw new Error(`no input labelled ${label} on ${page.url()}`);
    await input.click({ clickCount: 3 });
    await input.type(value);
  };
  const clickText = async (tag, s) => {
    const [el] = await page.$$(`xpath/.//${tag}[normalize-space(text())="${s}"]`);
    if (!el) throw new Error(`no ${tag} "${s}" on ${page.url()}: ${await text()}`);
    await el.click();
  };
  // A full page load is rendered by the client's server side, which
  // reaches the back end through the ingress by its in-cluster name.
  const load = async (path) => {
    const res = await page.goto(base + path, { waitUntil: 'networkidle0' });
    if (!res.ok()) throw new Error(`GET ${path}: ${res.status()} ${await res.text()}`);
    return res.text();
  };

  // 1. Signed out, the landing page offers sign up and sign in.
  let html = await load('/');
  if (!html.includes('Sign Up') || !html.includes('Sign In')) throw new Error('landing page (server-rendered) offers no sign up');
  await shot('landing-signed-out');

  // 2. The seller signs up through the form.
  const signUp = async (who, name) => {
    await clickText('a', 'Sign Up');
    await waitPath(/^\/auth\/signup$/);
    await waitText('Email Address');
    await typeInto('Email Address', who.email);
    await typeInto('Password', who.password);
    await shot(`${name}-signup-form`);
    await clickText('button', 'Sign Up');
    await waitPath(/^\/$/);
    await waitText('Sign Out');
  };
  await signUp(seller, 'seller');
  // Server-rendered with the cookie: currentuser answered through the ingress.
  html = await load('/');
  if (!html.includes('Sell Tickets') || !html.includes('Sign Out')) throw new Error('server-rendered landing page after sign up shows no signed-in user');
  await shot('seller-signed-in');

  // 3. A form error is the back end's message, rendered by the client.
  await clickText('a', 'Sell Tickets');
  await waitPath(/^\/tickets\/new$/);
  await waitText('Create a Ticket');
  await typeInto('Title', title);
  await typeInto('Price', '-5');
  await clickText('button', 'Submit');
  await waitText('Price must be greater than 0');
  await shot('seller-ticket-error');

  // 4. The ticket goes on sale: the price leaves the field as "20.00" (a string).
  await typeInto('Price', '20');
  await page.click('h1'); // blur: the form formats the price
  await page.waitForFunction(() => [...document.querySelectorAll('input')].some((i) => i.value === '20.00'));
  await shot('seller-ticket-form');
  await clickText('button', 'Submit');
  await waitPath(/^\/$/);
  await waitText(title);
  await shot('seller-ticket-listed');

  // 5. Signing out.
  await clickText('a', 'Sign Out');
  await waitPath(/^\/$/);
  await waitText('Sign Up');
  if ((await text()).includes('Sell Tickets')) throw new Error('still signed in after signing out');
  await shot('seller-signed-out');

  // 6. The buyer signs up and opens the ticket.
  await signUp(buyer, 'buyer');
  await waitText(title);
  await shot('buyer-signed-in');
  const [row] = await page.$$(`xpath/.//tr[td[1][text()="${title}"]]`);
  if (!row) throw new Error(`no row for ${title}`);
  const [view] = await row.$$('xpath/.//a[text()="View"]');
  await view.click();
  await waitPath(/^\/tickets\/[0-9a-f]{24}$/);
  await waitText('Purchase');
  if (!(await text()).includes('Price: 20')) throw new Error(`ticket page: ${await text()}`);
  await shot('buyer-ticket');

  // 7. Ordering it. The orders service learns of the ticket from an event;
  // should it not have yet, the page shows the error and the buyer clicks again.
  for (let i = 0; ; i++) {
    await clickText('button', 'Purchase');
    const outcome = await page.waitForFunction(() =>
      location.pathname.startsWith('/orders/') ? 'order' : document.querySelector('.alert-danger')?.innerText);
    const v = await outcome.jsonValue();
    if (v === 'order') break;
    if (i >= 20) throw new Error(`ordering: ${v}`);
    console.log(`  ordering refused (${v.replace(/\s+/g, ' ')}), again`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await waitText('Time left to pay');
  const orderId = page.url().split('/').pop();
  // Server-rendered too.
  html = await load(`/orders/${orderId}`);
  if (!html.includes('Time left to pay')) throw new Error(`order page (server-rendered): ${html.slice(0, 300)}`);
  await waitText('Pay With Card');
  await shot('buyer-order');

  // 8. Paying: the client's own button and request, with Stripe's test token.
  for (let i = 0; ; i++) {
    await clickText('span', 'Pay With Card');
    const outcome = await page.waitForFunction(() =>
      location.pathname === '/orders' ? 'paid' : document.querySelector('.alert-danger')?.innerText);
    const v = await outcome.jsonValue();
    if (v === 'paid') break;
    if (i >= 20) throw new Error(`paying: ${v}`);
    console.log(`  payment refused (${v.replace(/\s+/g, ' ')}), again`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const opened = await page.evaluate(() => window.__stripeOpened);
  if (!opened || opened.amount !== 2000 || opened.email !== buyer.email) {
    throw new Error(`checkout opened with ${JSON.stringify(opened)}, want amount 2000 and ${buyer.email}`);
  }

  // 9. The order completes when the orders service hears of the payment.
  const deadline = Date.now() + 60_000;
  for (;;) {
    await load('/orders');
    if ((await text()).includes(`${title} - complete`)) break;
    if (Date.now() > deadline) throw new Error(`order not complete: ${await text()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await shot('buyer-order-complete');

  // 10. The ticket is sold: off the list.
  await load('/');
  if ((await text()).includes(title)) throw new Error('the sold ticket is still listed');
  await shot('buyer-ticket-sold');

  // 11. A wrong password is refused with the back end's message; the seller signs in.
  await clickText('a', 'Sign Out');
  await waitText('Sign In');
  await clickText('a', 'Sign In');
  await waitPath(/^\/auth\/signin$/);
  await waitText('Email Address');
  await typeInto('Email Address', seller.email);
  await typeInto('Password', 'wrong-password');
  await clickText('button', 'Sign In');
  await waitText('Invalid credentials');
  await shot('seller-signin-refused');
  await typeInto('Password', seller.password);
  await clickText('button', 'Sign In');
  await waitPath(/^\/$/);
  await waitText('Sell Tickets');
  await shot('seller-signed-in-again');
} catch (e) {
  failures.push(e);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`FAIL after step ${step}: ${failures[0].stack || failures[0]}`);
  process.exit(1);
}
console.log(`PASS: ${step} steps, screenshots in ${shots}`);
