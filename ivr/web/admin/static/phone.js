/* The browser phone: places a simulated call through the admin API, plays the prompts, sends keys.
 *
 * The server runs the call (the simulator's TwiML interpreter, on the real clock) and logs its events;
 * this page long-polls the log, shows each event in the transcript, plays each prompt in order
 * (this app's prompts by the opaque clip URL their event carries, one clip per prompt, never by
 * their words or file names; <Play> files elsewhere from their URL), and sends each key the moment
 * it is pressed.
 * A key pressed while the call listens stops the prompt that is playing (barge-in), as on a phone.
 * No build step: plain JavaScript.
 */
(() => {
  "use strict";

  const root = document.getElementById("phone");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const speechOn = root.dataset.speech === "1";
  const threaded = root.dataset.threaded === "1";
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("phone-status"),
    timer: $("phone-timer"),
    node: $("phone-node"),
    digits: $("phone-digits"),
    transcript: $("transcript"),
    call: $("call-button"),
    hangup: $("hangup-button"),
    sound: $("sound"),
    details: $("details"),
  };
  const TEXT = JSON.parse(document.getElementById("phone-text").textContent);
  // The page's words in its language: t("key", {name: value}) fills "{name}".
  const t = (key, vars) => (TEXT[key] || key).replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? vars[name] : m));
  const DTMF = "0123456789*#";
  const TONES = {
    1: [697, 1209], 2: [697, 1336], 3: [697, 1477], 4: [770, 1209], 5: [770, 1336], 6: [770, 1477],
    7: [852, 1209], 8: [852, 1336], 9: [852, 1477], "*": [941, 1209], 0: [941, 1336], "#": [941, 1477],
  };

  let call = null; // {id, events, keys, hangup} while a call is up
  let generation = 0; // bumps with every call, so a late answer for an old call is ignored
  let next = 0;
  let listening = false;
  let lastNode = "";
  let startedAt = 0;
  let timerHandle = 0;
  let ttsBroken = !speechOn;
  let audioCtx = null;

  // -- the transcript ---------------------------------------------------------------------------

  function line(kind, text, extra) {
    const li = document.createElement("li");
    li.className = `line ${kind}`;
    if (extra && extra.t !== undefined) {
      const t = document.createElement("span");
      t.className = "t";
      t.textContent = `${Number(extra.t).toFixed(1)}s`;
      li.appendChild(t);
    }
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.appendChild(body);
    if (extra && extra.tag) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = extra.tag;
      li.appendChild(tag);
    }
    ui.transcript.appendChild(li);
    li.scrollIntoView({ block: "nearest" });
    return li;
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  function showDetails() {
    ui.transcript.classList.toggle("show-details", ui.details.checked);
  }

  // -- sound ------------------------------------------------------------------------------------

  const queue = []; // prompts waiting to play, in order
  let current = null; // {audio, url} playing now
  let audioGen = 0; // bumps on barge-in, so prompts fetched before it are dropped

  function stopAudio() {
    audioGen += 1;
    queue.length = 0;
    if (current) {
      current.audio.pause();
      if (current.url.startsWith("blob:")) URL.revokeObjectURL(current.url);
      current = null;
    }
  }

  function enqueue(item) {
    if (!ui.sound.checked) return;
    queue.push(item);
    playNext();
  }

  async function sourceFor(item, gen) {
    if (item.url) return item.url;
    if (item.say && ttsBroken) return null;
    const resp = await fetch(item.clip, { credentials: "same-origin" });
    if (resp.status === 503 || resp.status === 422) {
      // 503: no speech at all for now (text only from here on); 422: this one prompt cannot be played.
      if (resp.status === 503 && item.say) ttsBroken = true;
      let why = t("speech_unavailable");
      try { why = (await resp.json()).error || why; } catch (e) { /* keep the default */ }
      line("warning", t(resp.status === 503 ? "text_only_all" : "text_only_one", { why }));
      return null;
    }
    if (!resp.ok || gen !== audioGen) return null;
    return URL.createObjectURL(await resp.blob());
  }

  async function playNext() {
    if (current || queue.length === 0) return;
    const item = queue.shift();
    const gen = audioGen;
    current = { audio: new Audio(), url: "" };
    let src = null;
    try {
      src = await sourceFor(item, gen);
    } catch (e) {
      src = null;
    }
    if (gen !== audioGen) return; // a key stopped everything meanwhile
    if (!src) {
      current = null;
      playNext();
      return;
    }
    const audio = current.audio;
    current.url = src;
    const done = () => {
      if (current && current.audio === audio) {
        if (src.startsWith("blob:")) URL.revokeObjectURL(src);
        current = null;
        playNext();
      }
    };
    audio.addEventListener("ended", done);
    audio.addEventListener("error", done);
    audio.src = src;
    audio.play().catch(done); // autoplay refused, or no audio device: the text is in the transcript
  }

  function tone(key) {
    // A short DTMF tone as feedback, as a handset gives.
    if (!ui.sound.checked || !TONES[key]) return;
    try {
      audioCtx = audioCtx || new (window.AudioContext || window.webkitAudioContext)();
      const gain = audioCtx.createGain();
      gain.gain.value = 0.08;
      gain.connect(audioCtx.destination);
      const stopAt = audioCtx.currentTime + 0.12;
      for (const f of TONES[key]) {
        const osc = audioCtx.createOscillator();
        osc.frequency.value = f;
        osc.connect(gain);
        osc.start();
        osc.stop(stopAt);
      }
    } catch (e) {
      /* no Web Audio: no tone */
    }
  }

  // -- events from the server ---------------------------------------------------------------------

  function handle(e) {
    const at = { t: e.t };
    switch (e.event) {
      case "call":
        line("system", t("calling", { to: e.to, from: e.from }), at);
        break;
      case "request": {
        const status = e.status === null ? t("no_answer") : e.status;
        line("detail", `${e.method} ${e.path} → ${status}`, at);
        if (e.node && e.node !== lastNode) {
          lastNode = e.node;
          ui.node.textContent = e.title || e.node;
          ui.node.title = e.node;
          line("moved", t("at_node", { node: e.title || e.node }), at);
        }
        break;
      }
      case "say":
        line("prompt", e.text, { t: e.t, tag: e.language });
        if (e.clip) enqueue({ clip: e.clip, say: true });
        break;
      case "play":
        if (e.digits) {
          line("prompt", t("tones", { digits: e.digits }), at);
        } else if (e.part) {
          // A file of the prompt above: its sound is in that prompt's clip.
          line("detail", `… ${e.label || t("audio")}`, at);
        } else {
          line("prompt", e.text || e.label || e.url || t("audio"), { t: e.t, tag: "audio" });
          if (e.clip) enqueue({ clip: e.clip });
          else if (e.url) enqueue({ url: e.url });
        }
        break;
      case "pause":
        line("detail", t("pause", { seconds: e.seconds }), at);
        break;
      case "gather": {
        listening = true;
        const parts = [];
        if (e.numDigits) parts.push(t(e.numDigits > 1 ? "up_to_keys" : "one_key", { count: e.numDigits }));
        if (e.finishOnKey) parts.push(t("end_with", { key: e.finishOnKey }));
        parts.push(t("timeout_after", { seconds: e.timeout }));
        line("system", t("keys_welcome", { parts: parts.join(t("list_separator")) }), at);
        setStatus(t("listening"));
        break;
      }
      case "recording":
        listening = true;
        line("system", e.message, at);
        setStatus(t("recording"));
        break;
      case "input":
        listening = false;
        line("you", t("you_pressed", { keys: `${e.digits}${e.finished_on_key}` }), at);
        setStatus(t("in_call"));
        break;
      case "no_input":
        listening = false;
        line("system", t("no_keys"), at);
        setStatus(t("in_call"));
        break;
      case "record":
        listening = false;
        line("system", t(e.digits ? "recorded_ended" : "recorded", { seconds: e.seconds, keys: e.digits }), at);
        setStatus(t("in_call"));
        break;
      case "redirect":
        line("detail", t("redirect", { url: e.url }), at);
        break;
      case "dial":
        line("system", t(e.duration ? "transfer_talk" : "transfer", { number: e.number, status: e.status, seconds: e.duration }), at);
        setStatus(t("transferring"));
        break;
      case "hangup":
        line("system", t("hung_up"), at);
        break;
      case "reject":
        line("system", t("rejected", { reason: e.reason }), at);
        break;
      case "unsupported":
        line("error", t("unsupported", { verb: e.verb }), at);
        break;
      case "error":
        line("error", t("app_error", { message: e.message }), at);
        break;
      case "warning":
      case "note":
        line("warning", e.message, at);
        break;
      case "end":
        line("system end", t("call_ended_after", { reason: e.reason.replace(/_/g, " "), seconds: Number(e.duration).toFixed(1) }), at);
        break;
      default:
        line("detail", JSON.stringify(e), at);
    }
  }

  // -- the call -------------------------------------------------------------------------------------

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function tick() {
    const s = Math.floor((Date.now() - startedAt) / 1000);
    ui.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function ended(reason) {
    call = null;
    listening = false;
    clearInterval(timerHandle);
    ui.call.disabled = false;
    ui.hangup.disabled = true;
    root.classList.remove("in-call");
    setStatus(reason ? t("call_ended_why", { reason: reason.replace(/_/g, " ") }) : t("call_ended"));
  }

  async function startCall() {
    if (call) return;
    stopAudio();
    generation += 1;
    const gen = generation;
    ui.transcript.textContent = "";
    ui.digits.textContent = "";
    ui.node.textContent = "—";
    lastNode = "";
    next = 0;
    ttsBroken = !speechOn;
    ui.call.disabled = true;
    setStatus(t("calling_status"));
    let resp;
    try {
      resp = await post(root.dataset.start);
    } catch (e) {
      line("error", t("no_server"));
      ended("");
      return;
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      line("error", data.error || t("not_placed", { status: resp.status }));
      ended("");
      return;
    }
    call = data;
    root.classList.add("in-call");
    ui.hangup.disabled = false;
    startedAt = Date.now();
    timerHandle = setInterval(tick, 500);
    tick();
    poll(gen);
  }

  async function poll(gen) {
    let failures = 0;
    while (call && gen === generation) {
      let data;
      try {
        const resp = await fetch(`${call.events}?after=${next}&wait=${threaded ? 15 : 0}`, { credentials: "same-origin" });
        if (resp.status === 401) {
          line("error", t("login_expired"));
          ended("");
          return;
        }
        if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
        data = await resp.json();
        failures = 0;
      } catch (e) {
        failures += 1;
        if (failures >= 5) {
          line("error", t("lost_touch", { message: e.message }));
          ended("");
          return;
        }
        await sleep(1000);
        continue;
      }
      if (gen !== generation) return;
      for (const e of data.events) handle(e);
      next = data.next;
      if (data.ended) {
        ended(data.reason);
        return;
      }
      if (!threaded) await sleep(300);
    }
  }

  function press(key) {
    tone(key);
    const button = root.querySelector(`.key[data-key="${CSS.escape(key)}"]`);
    if (button) {
      button.classList.add("pressed");
      setTimeout(() => button.classList.remove("pressed"), 150);
    }
    if (!call) return;
    ui.digits.textContent = (ui.digits.textContent + key).slice(-24);
    if (listening) stopAudio(); // barge-in: the prompt stops the moment a key is pressed
    post(call.keys, { keys: key }).catch(() => line("error", t("key_lost", { key })));
  }

  async function hangUp() {
    if (!call) return;
    const hangupUrl = call.hangup;
    stopAudio();
    setStatus(t("hanging_up"));
    ui.hangup.disabled = true;
    try {
      await post(hangupUrl);
    } catch (e) {
      ended("");
    }
  }

  // -- wiring ---------------------------------------------------------------------------------------

  root.querySelectorAll(".key").forEach((button) => {
    button.addEventListener("click", () => press(button.dataset.key));
  });
  ui.call.addEventListener("click", startCall);
  ui.hangup.addEventListener("click", hangUp);
  ui.details.addEventListener("change", showDetails);
  ui.sound.addEventListener("change", () => {
    if (!ui.sound.checked) stopAudio();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target instanceof HTMLInputElement && ev.target.type !== "checkbox") return;
    if (ev.key.length === 1 && DTMF.includes(ev.key)) {
      ev.preventDefault();
      press(ev.key);
    } else if (ev.key === "Enter" && !call && ev.target === document.body) {
      ev.preventDefault();
      startCall();
    } else if (ev.key === "Escape") {
      hangUp();
    }
  });
  window.addEventListener("pagehide", () => {
    // Closing the tab hangs up (the server would also notice the silence after two minutes).
    if (call) {
      fetch(call.hangup, {
        method: "POST", keepalive: true, credentials: "same-origin", headers: { "X-CSRF-Token": csrf },
      });
    }
  });
  showDetails();
})();
