// The user agent and the person at Gatehouse, for the relying-party tests:
// rp_test.go starts a real Gatehouse and passes where it is in the
// environment; these helpers follow an authorization URL to the consent
// page and approve it through the session API with the guest identity,
// as testclient.Approve does for the Go tests.

export const issuer = mustEnv('GATEHOUSE_ISSUER');
export const appURL = mustEnv('GATEHOUSE_APP_URL');
export const basePath = process.env.GATEHOUSE_BASE_PATH ?? '';

function mustEnv(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through rp_test.go (go test -run TestRelyingParties .)`);
  }
  return v;
}

async function json(res, what) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: ${res.status}, body not JSON: ${text.slice(0, 200)}`);
  }
}

// guestToken signs in as the guest, as Backstage's frontend does locally.
export async function guestToken() {
  const res = await fetch(`${issuer}/guest/refresh`, { method: 'POST' });
  const body = await json(res, 'guest refresh');
  const token = body?.backstageIdentity?.token;
  if (res.status !== 200 || !token) {
    throw new Error(`guest refresh: ${res.status} ${JSON.stringify(body)}`);
  }
  return token;
}

// approve follows authURL to the consent page, approves the consent
// session as the guest (with the identity token guest, or the one the
// function guest returns once the session exists, or a new one) and
// returns the URL the server redirects the user agent to (the client's
// redirect URI with code or error). A refused approval throws an error
// whose status and body are those of the approval's answer.
export async function approve(authURL, { guest } = {}) {
  const res = await fetch(authURL, { redirect: 'manual' });
  const text = await res.text();
  const consent = res.headers.get('location') ?? '';
  if (res.status !== 302) {
    throw new Error(`authorize: status ${res.status}, want 302: ${text.slice(0, 300)}`);
  }
  const prefix = `${appURL}/oauth2/authorize/`;
  if (!consent.startsWith(prefix)) {
    throw new Error(`authorize redirected to ${consent}, want the consent page under ${prefix}`);
  }
  const session = consent.slice(prefix.length);
  guest = typeof guest === 'function' ? await guest() : guest ?? (await guestToken());
  const ok = await fetch(`${issuer}/v1/sessions/${session}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${guest}`, 'content-type': 'application/json' },
  });
  const body = await json(ok, 'approve');
  if (ok.status !== 200 || !body.redirectUrl) {
    throw Object.assign(new Error(`approve: ${ok.status} ${JSON.stringify(body)}`), { status: ok.status, body });
  }
  return new URL(body.redirectUrl);
}

// register registers a client (RFC 7591) directly, for the tests whose
// relying party expects to be given its credentials.
export async function register(metadata) {
  const res = await fetch(`${issuer}/v1/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  const body = await json(res, 'register');
  if (res.status !== 201) {
    throw new Error(`register: ${res.status} ${JSON.stringify(body)}`);
  }
  return body;
}

// decodeJWT returns a compact JWS's header and payload, unverified (the
// relying party under test verifies).
export function decodeJWT(jwt) {
  const [h, p] = jwt.split('.');
  const part = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: part(h), payload: part(p) };
}

// detailed awaits p and, when it rejects with a library error that wraps
// the server's answer (oauth4webapi's ResponseBodyError, the MCP SDK's
// OAuthError), adds that answer to the message: the test log is where the
// reason is read.
export async function detailed(p) {
  try {
    return await p;
  } catch (err) {
    const extra = [err.error, err.error_description, err.status, err.cause && JSON.stringify(err.cause)].filter(Boolean);
    if (extra.length) {
      err.message = `${err.message} (${extra.join('; ')})`;
    }
    throw err;
  }
}
