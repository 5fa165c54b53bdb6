// The link in a mail ("continue the conversation"): `?livedesk_resume=<token>` carries the
// visitor token of the person it was mailed to. The widget takes that token over (the
// session renews it as that visitor), forgets what belonged to whoever used this browser
// before, opens, and the welcome brings the visitor's conversation back. The parameter is
// taken off the address at once, so a reload, a bookmark or a shared URL does not carry it.
export const RESUME_PARAM = "livedesk_resume";

export function takeResumeLink(storage, location = window.location, history = window.history) {
  let url;
  try {
    url = new URL(location.href);
  } catch {
    return false;
  }
  const token = url.searchParams.get(RESUME_PARAM);
  if (!token) return false;
  url.searchParams.delete(RESUME_PARAM);
  try {
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  } catch {
    /* a sandboxed frame: the address keeps it, harmlessly (the token is the visitor's own) */
  }
  storage.set({ token, conv: null, readConv: null, readSeq: 0, outbox: [], rated: null, open: true });
  return true;
}
