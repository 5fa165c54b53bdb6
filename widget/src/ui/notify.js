// A new reply while the tab is hidden: count it in the page title and play a short tone.
// The tone is synthesised with Web Audio, so no sound file is fetched (a page's CSP may
// forbid media from other origins).

export function createNotifier(t) {
  const original = document.title;
  let count = 0;
  let audio = null;

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch {
      /* no audio (autoplay policy, old browser): the title still says it */
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && count) {
      count = 0;
      document.title = original;
    }
  });

  return {
    reply() {
      if (!document.hidden) return;
      count += 1;
      document.title = `(${count}) ${t("newReply")} · ${original}`;
      beep();
    },
  };
}
