/**
 * Server-rendered HTML for the console: a tagged template that escapes every interpolated value
 * (only `Html` values from this module pass through unescaped), and the page layout.
 */

/** Markup that is already safe (made by `html` or `raw`). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | undefined | null | readonly Value[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: Value): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** `html\`<p>${text}</p>\``: text is escaped; nested html, arrays and absent values compose. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Markup made by our own code (the SVG timeline). */
export function raw(text: string): Html {
  return new Html(text);
}

export interface PageFrame {
  title: string;
  /** The signed-in user, shown with a logout button; absent on the login page. */
  user?: string;
  csrf?: string;
  /** A message at the top: what just happened, or what was refused. */
  flash?: { kind: 'ok' | 'error'; text: string };
  /** Live updates: the page asks for itself again every so often (progressive enhancement). */
  refreshUrl?: string;
}

/** The page: header with navigation, the flash message, the body. Assets are the console's own (/assets). */
export function page(frame: PageFrame, body: Html): string {
  const nav = frame.user
    ? html`<nav>
        <a href="/">Runbooks</a>
        <a href="/fleets">Fleets</a>
        <a href="/start">Start</a>
        <span class="who">signed in as <strong>${frame.user}</strong></span>
        <form method="post" action="/logout" class="inline">
          <input type="hidden" name="_csrf" value="${frame.csrf}" /><button type="submit" class="link">Log out</button>
        </form>
      </nav>`
    : html``;
  const flash = frame.flash
    ? html`<p class="flash ${frame.flash.kind}" role="${frame.flash.kind === 'error' ? 'alert' : 'status'}">${frame.flash.text}</p>`
    : html``;
  return `<!doctype html>${html`<html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>${frame.title} · EKM console</title>
      <link rel="stylesheet" href="/assets/console.css" />
      <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml" />
      <script src="/assets/console.js" defer></script>
    </head>
    <body${frame.refreshUrl ? html` data-refresh="${frame.refreshUrl}"` : html``}>
      <header><a class="brand" href="/">EKM console</a>${nav}</header>
      <main>${flash}${body}</main>
    </body>
  </html>`.text}`;
}

/** A hidden CSRF field for a form. */
export function csrfField(token: string | undefined): Html {
  return html`<input type="hidden" name="_csrf" value="${token}" />`;
}
