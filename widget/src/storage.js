// What must survive a reload or a navigation to another page of the site: the token, the open
// conversation, how far the visitor has read, and the messages typed but not yet acknowledged.
// localStorage can be missing or full (private modes, quotas): the widget then works for the
// life of the page.

export function openStorage(site) {
  const key = "livedesk:" + site;
  let data = {};
  try {
    data = JSON.parse(localStorage.getItem(key) || "{}") || {};
  } catch {
    data = {};
  }
  return {
    get(name, fallback) {
      return name in data ? data[name] : fallback;
    },
    set(patch) {
      Object.assign(data, patch);
      try {
        localStorage.setItem(key, JSON.stringify(data));
      } catch {
        /* quota or disabled: keep it in memory only */
      }
    },
  };
}
