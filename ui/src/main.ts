/**
 * Ferry's dashboard: the runs, one run, and the submit form, as views of
 * the page's address (`#/`, `#/runs/ID`, `#/submit`). When the API asks for
 * credentials, the page asks the person for them (a token, or a user and
 * password), keeps them for the tab's life and sends them with every call.
 */
import { api, hasCredentials, signedInAs, signIn, signOut, whenUnauthorized } from './api.js';
import { fill, h } from './dom.js';
import { runView } from './run-view.js';
import { runsView } from './runs-view.js';
import { submitView } from './submit-view.js';

const main = document.getElementById('main')!;
let leave: () => void = () => undefined;
let asking = false;

/** Shows the view the address names. */
function show(): void {
  leave();
  asking = false;
  const [route = '', queryText = ''] = location.hash.replace(/^#/, '').split('?');
  const query = new URLSearchParams(queryText);
  const run = /^\/runs\/([^/]+)$/.exec(route);
  const section = run ? 'runs' : route === '/submit' ? 'submit' : 'runs';
  for (const link of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) link.classList.toggle('current', link.dataset.nav === section);
  if (run) leave = runView(main, decodeURIComponent(run[1]!));
  else if (route === '/submit') leave = submitView(main);
  else leave = runsView(main, query);
  showWho();
}

function showWho(): void {
  const who = document.getElementById('who')!;
  const name = signedInAs();
  fill(
    who,
    name
      ? [
          h('span', { class: 'muted' }, name === 'token' ? 'signed in with a token' : `signed in as ${name}`),
          h('button', { type: 'button', id: 'sign-out', class: 'link', onclick: () => (signOut(), show()) }, 'Sign out'),
        ]
      : null,
  );
}

/** The sign-in form, for the schemes the server named (a token, or a user and password). */
function askForCredentials(schemes: string[], rejected: boolean): void {
  if (asking) return;
  asking = true;
  leave();
  leave = () => undefined;
  if (rejected) signOut();
  const bearer = schemes.includes('Bearer') || schemes.length === 0;
  const basic = schemes.includes('Basic');
  const token = h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off', size: 40 });
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', size: 24 });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', size: 24 });
  const form = h(
    'form',
    { class: 'login', id: 'login' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This server needs credentials to show its runs.'),
    rejected ? h('p', { class: 'error', role: 'alert' }, 'Those credentials were not accepted.') : null,
    bearer ? h('div', { class: 'field' }, h('label', { for: 'login-token' }, 'Access token'), token) : null,
    bearer && basic ? h('p', { class: 'muted' }, 'or') : null,
    basic ? [h('div', { class: 'field' }, h('label', { for: 'login-user' }, 'User'), user), h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password)] : null,
    h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Sign in'),
    h('p', { class: 'muted small' }, 'Kept in this tab only (sessionStorage), until you sign out or close it.'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (token.value) signIn({ token: token.value });
    else if (user.value) signIn({ user: user.value, password: password.value });
    else return;
    show();
  });
  fill(main, form);
  showWho();
  void api()
    .GET('/ga4gh/wes/v1/service-info')
    .then(({ data }) => {
      if (data?.auth_instructions_url) form.append(h('p', { class: 'small' }, h('a', { href: data.auth_instructions_url, rel: 'noreferrer', target: '_blank' }, 'How to get credentials')));
    });
  (bearer ? token : user).focus();
}

async function showService(): Promise<void> {
  const { data } = await api().GET('/ga4gh/wes/v1/service-info');
  if (data) document.getElementById('service')!.textContent = `${data.name} ${data.version}`;
}

whenUnauthorized(askForCredentials);
window.addEventListener('hashchange', show);
show();
void showService();
if (hasCredentials()) showWho();
