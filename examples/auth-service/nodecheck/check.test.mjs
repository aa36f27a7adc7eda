// The Node auth service's own tests (routes/__test__), run black-box
// against a running auth service over HTTP, as supertest sends them.
// Where the Node tests clear the database before each test, these use a
// new email each. Beside them, the password format is checked both ways
// with Node's crypto, as the Node service's Password class uses it: a
// user that Password.toHash stored signs in, and a user the service
// signed up passes Password.compare.
//
// Environment: AUTH_URL, MONGO_URI (with the service's database in its
// path).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { MongoClient, ObjectId } from 'mongodb';

const base = process.env.AUTH_URL;
const scrypt = promisify(crypto.scrypt);
let mongo;
let users;

// services/password.ts, verbatim but for the imports.
class Password {
  static async toHash(password) {
    const salt = crypto.randomBytes(8).toString('hex');
    const buf = await scrypt(password, salt, 64);
    return `${buf.toString('hex')}.${salt}`;
  }

  static async compare(storedPassword, suppliedPassword) {
    const [hashedPassword, salt] = storedPassword.split('.');
    const buf = await scrypt(suppliedPassword, salt, 64);
    return buf.toString('hex') === hashedPassword;
  }
}

const newEmail = () => `test-${crypto.randomBytes(6).toString('hex')}@test.com`;

// request is supertest's request(app).method(path).set('Cookie', ...).send(body).
const request = async (method, path, { cookie, body } = {}) => {
  const headers = {};
  if (cookie) headers.cookie = cookie.map((c) => c.split(';')[0]).join('; ');
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, setCookie: res.headers.getSetCookie(), body: text ? JSON.parse(text) : undefined };
};

// test/setup.ts's global.signin: sign up and return the Set-Cookie.
const signin = async (email = newEmail()) => {
  const r = await request('POST', '/api/users/signup', { body: { email, password: 'password' } });
  assert.equal(r.status, 201);
  return r.setCookie;
};

before(async () => {
  mongo = new MongoClient(process.env.MONGO_URI);
  await mongo.connect();
  users = mongo.db().collection('users');
});

after(() => mongo.close());

// signup.test.ts
test('returns a 201 on successful signup', async () => {
  const email = newEmail();
  const r = await request('POST', '/api/users/signup', { body: { email, password: 'password' } });
  assert.equal(r.status, 201);
  assert.deepEqual(Object.keys(r.body), ['email', 'id']);
  assert.equal(r.body.email, email);
});

test('returns a 400 with an invalid email', async () => {
  const r = await request('POST', '/api/users/signup', { body: { email: 'alskdflaskjfd', password: 'password' } });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { errors: [{ message: 'Email must be valid', field: 'email' }] });
});

test('returns a 400 with an invalid password', async () => {
  const r = await request('POST', '/api/users/signup', { body: { email: 'alskdflaskjfd', password: 'p' } });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body.errors.map((e) => e.field), ['email', 'password']);
  assert.equal(r.body.errors[1].message, 'Password must be between 4 and 20 characters');
});

test('returns a 400 with missing email and password', async () => {
  assert.equal((await request('POST', '/api/users/signup', { body: { email: newEmail() } })).status, 400);
  assert.equal((await request('POST', '/api/users/signup', { body: { password: 'alskjdf' } })).status, 400);
});

test('disallows duplicate emails', async () => {
  const email = newEmail();
  assert.equal((await request('POST', '/api/users/signup', { body: { email, password: 'password' } })).status, 201);
  const r = await request('POST', '/api/users/signup', { body: { email, password: 'password' } });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { errors: [{ message: 'Email in use' }] });
});

test('sets a cookie after successful signup', async () => {
  const r = await request('POST', '/api/users/signup', { body: { email: newEmail(), password: 'password' } });
  assert.equal(r.status, 201);
  assert.ok(r.setCookie[0]);
  assert.match(r.setCookie[0], /^express:sess=[A-Za-z0-9+/=]+; path=\/; httponly$/);
});

// signin.test.ts
test('fails when a email that does not exist is supplied', async () => {
  const r = await request('POST', '/api/users/signin', { body: { email: newEmail(), password: 'password' } });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { errors: [{ message: 'Invalid credentials' }] });
});

test('fails when an incorrect password is supplied', async () => {
  const email = newEmail();
  assert.equal((await request('POST', '/api/users/signup', { body: { email, password: 'password' } })).status, 201);
  const r = await request('POST', '/api/users/signin', { body: { email, password: 'aslkdfjalskdfj' } });
  assert.equal(r.status, 400);
});

test('responds with a cookie when given valid credentials', async () => {
  const email = newEmail();
  assert.equal((await request('POST', '/api/users/signup', { body: { email, password: 'password' } })).status, 201);
  const r = await request('POST', '/api/users/signin', { body: { email, password: 'password' } });
  assert.equal(r.status, 200);
  assert.ok(r.setCookie[0]);
});

// signout.test.ts
test('clears the cookie after signing out', async () => {
  assert.equal((await request('POST', '/api/users/signup', { body: { email: newEmail(), password: 'password' } })).status, 201);
  const r = await request('POST', '/api/users/signout', { body: {} });
  assert.equal(r.status, 200);
  assert.equal(r.setCookie[0], 'express:sess=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly');
});

// current-user.test.ts
test('responds with details about the current user', async () => {
  const cookie = await signin('test@test.com');
  const r = await request('GET', '/api/users/currentuser', { cookie });
  assert.equal(r.status, 200);
  assert.equal(r.body.currentUser.email, 'test@test.com');
  assert.deepEqual(Object.keys(r.body.currentUser), ['id', 'email', 'iat']);
});

test('responds with null if not authenticated', async () => {
  const r = await request('GET', '/api/users/currentuser');
  assert.equal(r.status, 200);
  assert.equal(r.body.currentUser, null);
});

// The password format, both ways.
test('a user the Node service stored signs in', async () => {
  const email = newEmail();
  const _id = new ObjectId();
  await users.insertOne({ _id, email, password: await Password.toHash('p@ss wörd'), __v: 0 });
  const r = await request('POST', '/api/users/signin', { body: { email, password: 'p@ss wörd' } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { email, id: _id.toHexString() });
});

test('a user the Go service signed up passes the Node service\'s compare', async () => {
  const email = newEmail();
  const r = await request('POST', '/api/users/signup', { body: { email, password: '  pässword ' } });
  assert.equal(r.status, 201);
  const doc = await users.findOne({ _id: new ObjectId(r.body.id) });
  assert.equal(doc.email, email);
  assert.ok(await Password.compare(doc.password, 'pässword')); // trimmed, as express-validator trims it
  assert.ok(!(await Password.compare(doc.password, 'password')));
});
