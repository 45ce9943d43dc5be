/** Plain HTTP to a running console (fetch, no redirects followed), for tests without a browser. */

export interface ConsoleResponse {
  status: number;
  body: string;
  /** The Set-Cookie header(s), joined. */
  setCookie: string;
  headers: Headers;
}

export interface SendOptions {
  /** The login cookie's value. */
  cookie?: string;
  /** An application/x-www-form-urlencoded body. */
  form?: Record<string, string>;
  /** A multipart body, from multipartBody(). */
  multipart?: { body: Buffer; type: string };
  headers?: Record<string, string>;
  /** Other cookies, as a Cookie header's text (e.g. the sign-in form's CSRF cookie). */
  cookies?: string;
}

export async function send(base: string, method: string, path: string, options: SendOptions = {}): Promise<ConsoleResponse> {
  const headers: Record<string, string> = { accept: 'text/html', ...options.headers };
  const cookies = [options.cookie ? `ekm_session=${options.cookie}` : '', options.cookies ?? ''].filter(Boolean);
  if (cookies.length) headers.cookie = cookies.join('; ');
  let body: string | Buffer | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  } else if (options.multipart) {
    headers['content-type'] = options.multipart.type;
    body = options.multipart.body;
  }
  const res = await fetch(new URL(path, base), { method, headers, body, redirect: 'manual' });
  return { status: res.status, body: await res.text(), setCookie: res.headers.getSetCookie().join('\n'), headers: res.headers };
}

/** A multipart/form-data body: text fields, and files as { filename, data }. */
export function multipartBody(fields: Record<string, string | { filename: string; data: Buffer }>): { body: Buffer; type: string } {
  const boundary = `----ekmtest${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
    } else {
      parts.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${value.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        ),
        value.data,
        Buffer.from('\r\n'),
      );
    }
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** The CSRF token the page's forms carry. */
export function csrfOf(body: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(body);
  if (!match) throw new Error('no CSRF token on the page');
  return match[1]!;
}

/** Signs in as a browser does: the sign-in form (its CSRF cookie and field), then POST /login. */
export async function signIn(base: string, user: string, token: string): Promise<ConsoleResponse> {
  const form = await send(base, 'GET', '/login');
  const loginCsrf = /ekm_login_csrf=([^;]+)/.exec(form.setCookie)?.[1];
  if (!loginCsrf) throw new Error('the sign-in form set no CSRF cookie');
  return send(base, 'POST', '/login', { cookies: `ekm_login_csrf=${loginCsrf}`, form: { user, token, _csrf: csrfOf(form.body) } });
}
