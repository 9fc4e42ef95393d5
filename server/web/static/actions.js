// How the pages act: run a call (a button's), show its error in the
// banner, then refresh the page at once rather than at the next poll.

let hooks = { refresh: async () => {}, showError: () => {} };

export function setHooks(h) { hooks = h; }

export async function act(fn) {
  try {
    await fn();
    hooks.showError(null);
  } catch (e) {
    hooks.showError(e);
    return false;
  }
  await hooks.refresh();
  return true;
}
