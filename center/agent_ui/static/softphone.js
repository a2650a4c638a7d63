// The browser softphone: Twilio's Voice SDK (vendor/twilio-voice.min.js, served from this
// origin) registered as client:agent-<id>, when the agent takes calls in the browser (GET
// /api/voice/device: no phone number). The server adds that client to a call's conference
// once the agent accepted the offer, so the SDK's `incoming` call right after an Accept is
// taken at once (no second click); any other one waits for Answer. Its state (registering /
// ready / offline and the SDK's error text), mute and hang-up sit in #softphone. Audio itself
// runs between the browser and Twilio's media servers (WebRTC), which no test here reaches.
// Loaded before voice.js and agent.js (it listens to their center:* events), and on the
// supervisor console before supervisor_calls.js, for a supervisor's listen, whisper and
// barge legs. Everything shown is set with textContent.
(() => {
  // A call the server adds arrives within seconds of the Accept; a later one is not "the
  // call just accepted" and waits for the agent's click.
  const EXPECT_MS = 60_000;
  const MIC_REFUSED = new Set([31401, 31208]); // (permission denied; 31208: older SDKs)
  const MIC_MISSING = 31402; // (none found, or another program holds it)
  let device = null;
  let started = false;
  let call = null;
  let expecting = 0; // until when an incoming call is the one just accepted (ms epoch)
  const $ = (id) => document.getElementById(id);

  function status(text, error) {
    $("softphone").hidden = false;
    $("sp-state").textContent = text;
    $("sp-error").hidden = !error;
    $("sp-error").textContent = error || "";
  }

  function describe(err) {
    if (err && (MIC_REFUSED.has(err.code) || err.name === "NotAllowedError")) {
      return "The browser refused the microphone: allow it for this site (the icon in the "
        + "address bar), then take the call again.";
    }
    if (err && err.code === MIC_MISSING) {
      return "No microphone could be opened (none found, or another program holds it).";
    }
    return err ? `${err.message || err}${err.code ? ` (${err.code})` : ""}` : "";
  }

  function buttons() {
    $("sp-answer").hidden = !call || call.status() !== "pending";
    $("sp-mute").hidden = $("sp-hangup").hidden = !call || call.status() === "pending";
    $("sp-mute").textContent = call && call.isMuted() ? "Unmute" : "Mute";
  }

  function take(c) {
    call = c;
    const done = () => { if (call === c) call = null; buttons(); status(label()); };
    c.on("accept", () => { buttons(); status(label()); });
    c.on("disconnect", done);
    c.on("cancel", done);
    c.on("reject", done);
    c.on("mute", buttons);
    c.on("error", (err) => { buttons(); status(label(), describe(err)); });
    buttons();
  }

  function label() {
    // (the SDK's Call states; open: its answer sent, the media path set up)
    if (call) return { pending: "incoming call", open: "on a call" }[call.status()] || "connecting…";
    return { registered: "ready", registering: "registering…" }[device?.state] || "offline";
  }

  async function token() {
    const r = await fetch("/api/voice/token", { cache: "no-store" });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      throw Object.assign(new Error(body.error || `the token was refused (${r.status})`), {
        status: r.status,
      });
    }
    return body.token;
  }

  async function start() {
    const r = await fetch("/api/voice/device");
    if (!r.ok) return;
    const where = await r.json();
    if (!where.softphone) return; // calls ring the agent's phone
    if (typeof Twilio === "undefined" || !Twilio.Device) {
      status("offline", "the Voice SDK did not load");
      return;
    }
    let jwt;
    try {
      jwt = await token();
    } catch (err) {
      // 409: this centre has no softphone key (no voice, or phones only): no bar at all.
      if (err.status !== 409) status("offline", describe(err));
      return;
    }
    status("registering…");
    const options = {
      closeProtection: "A call is on the softphone: leaving ends it.",
      disableAudioContextSounds: true, // (<audio>: the CSP's media-src, no fetch)
      publishEvents: false, // (no call-quality reports: the CSP allows no eventgw)
    };
    if (where.signalling) options.chunderw = where.signalling;
    device = new Twilio.Device(jwt, options);
    device.on("registering", () => status(label()));
    device.on("registered", () => status(label()));
    device.on("unregistered", () => status(label()));
    device.on("error", (err) => status(label(), describe(err)));
    device.on("tokenWillExpire", () => {
      token().then((t) => device.updateToken(t)).catch((err) => status(label(), describe(err)));
    });
    device.on("incoming", (c) => {
      take(c);
      if (Date.now() < expecting) {
        expecting = 0;
        c.accept();
      }
      status(label());
    });
    device.register().catch((err) => status(label(), describe(err)));
  }

  // Its bar, hidden until the softphone starts, before the console's Log out button.
  function bar() {
    const el = (tag, attrs, text) => {
      const e = document.createElement(tag);
      Object.assign(e, attrs);
      if (text) e.textContent = text;
      return e;
    };
    const root = el("span", { id: "softphone", className: "softphone", hidden: true });
    root.append(
      el("span", { className: "muted" }, "Softphone:"),
      el("span", { id: "sp-state" }),
      el("button", { id: "sp-answer", type: "button", hidden: true }, "Answer"),
      el("button", { id: "sp-mute", type: "button", hidden: true }, "Mute"),
      el("button", { id: "sp-hangup", type: "button", hidden: true }, "Hang up"),
      el("span", { id: "sp-error", className: "error", hidden: true }),
    );
    $("logout").before(root);
  }

  bar(); // (this script runs at the end of the body: the header is there)
  document.addEventListener("DOMContentLoaded", () => {
    $("sp-answer").addEventListener("click", () => call?.accept());
    $("sp-mute").addEventListener("click", () => call?.mute(!call.isMuted()));
    $("sp-hangup").addEventListener("click", () => call?.disconnect());
  });
  // The agent accepted a call: the conference's call to this browser follows.
  document.addEventListener("center:pane", (e) => {
    if (e.detail.interaction.channel === "voice") expecting = Date.now() + EXPECT_MS;
  });
  // A supervisor asked to listen, whisper or barge (supervisor_calls.js): the same.
  document.addEventListener("center:expect-call", () => { expecting = Date.now() + EXPECT_MS; });
  document.addEventListener("center:socket", () => {
    if (started) return;
    started = true;
    start();
  });
})();
