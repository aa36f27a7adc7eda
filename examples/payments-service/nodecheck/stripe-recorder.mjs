// A recording proxy in front of stripe-mock, for check.test.mjs. The Node
// test finds the charge its POST made by listing charges from Stripe's
// test mode; stripe-mock keeps nothing (its list answers fixtures), so the
// payments service is pointed here instead (STRIPE_API_BASE), and the test
// asks GET /__charges for the charge requests the service made: the form
// Stripe received, the Idempotency-Key, and the status and charge id
// stripe-mock answered. Everything else is passed through unchanged.
//
// stripe-mock accepts every token; tok_chargeDeclined is answered here as
// Stripe's test mode answers it (402, card_declined), without a charge.
//
// Environment: STRIPE_API_BASE (stripe-mock). Prints "listening <port>".
import http from 'node:http';

const upstream = new URL(process.env.STRIPE_API_BASE);
const charges = [];

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  if (req.method === 'GET' && req.url === '/__charges') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(charges));
    return;
  }
  const isCharge = req.method === 'POST' && req.url === '/v1/charges';
  const form = isCharge ? Object.fromEntries(new URLSearchParams(body.toString())) : undefined;
  const record = isCharge ? { form, idempotencyKey: req.headers['idempotency-key'] } : undefined;
  if (isCharge && form.source === 'tok_chargeDeclined') {
    const error = { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' };
    charges.push({ ...record, status: 402, error: error.code });
    res.writeHead(402, { 'content-type': 'application/json', 'request-id': 'req_recorder' });
    res.end(JSON.stringify({ error }));
    return;
  }
  const headers = { ...req.headers, host: upstream.host };
  const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, async (ur) => {
    const out = [];
    for await (const c of ur) out.push(c);
    const data = Buffer.concat(out);
    if (isCharge) {
      let id;
      try { id = JSON.parse(data.toString()).id; } catch { /* recorded without */ }
      charges.push({ ...record, status: ur.statusCode, id });
    }
    res.writeHead(ur.statusCode, ur.headers);
    res.end(data);
  });
  up.on('error', (err) => { res.writeHead(502); res.end(String(err)); });
  up.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
