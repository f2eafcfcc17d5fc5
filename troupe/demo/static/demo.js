// Troupe demo page: a live view of the channel, the house and the Pis.
// Everything comes from /api/events (a snapshot, then one object per change);
// actions are JSON POSTs to /api/*. Text from Slack is only ever set as textContent.

const $ = (id) => document.getElementById(id);
const state = {
  messages: new Map(), activity: [], pis: [], house: { lights: [], sensors: [] },
  hints: [], update: null, trap: false, notes: [], lease: 6, seen: new Set(), connected: false,
};

// ---------------------------------------------------------------- helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const piNumber = (name) => (/^pi-(\d+)$/.exec(name || "") || [])[1];
const piColor = (name) => (piNumber(name) ? `var(--pi-${Math.min(+piNumber(name), 9)})` : "var(--faint)");

// A small, safe subset of Slack's mrkdwn: `code`, *bold*, _italic_.
function rich(text) {
  const out = [];
  for (const part of text.split(/(`[^`\n]+`)/)) {
    if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) {
      out.push(el("code", { text: part.slice(1, -1) }));
      continue;
    }
    const re = /(^|[\s(])([*_])([^*_\n]+?)\2(?=$|[\s).,!?:;])/g;
    let last = 0;
    for (const m of part.matchAll(re)) {
      const start = m.index + m[1].length;
      out.push(part.slice(last, start));
      out.push(el(m[2] === "*" ? "strong" : "em", { text: m[3] }));
      last = start + m[3].length + 2;
    }
    out.push(part.slice(last));
  }
  return out;
}

function avatar(name, kind, small) {
  if (kind === "person") return el("div", { class: "avatar person", "aria-hidden": "true", text: "You".slice(0, small ? 1 : 3) });
  const n = piNumber(name);
  return el("div", { class: "avatar", style: `background:${piColor(name)}`, "aria-hidden": "true", text: n ? `π${n}` : "·" });
}

let toastTimer;
function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4500);
}

async function post(path, body = {}) {
  try {
    const response = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({ ok: false, error: response.statusText }));
    if (!data.ok) toast(data.error || "That did not work.");
    return data;
  } catch (err) {
    toast("The demo is not answering. Is it still running?");
    return { ok: false };
  }
}

const say = (text) => post("/api/say", { text });

// ---------------------------------------------------------------- chat
// A live claim whose Pi has gone silent (killed, cut off): how long since its last word and
// when its lease (counted from the pin) runs out and another Pi may take over. Null while
// the claimer is online: then the demo's own words ("claimed it · running") stand.
function claimText(by, claimedAt) {
  const pi = state.pis.find((p) => p.name === by);
  if (!pi || !pi.silent_since || !claimedAt) return null;
  const now = Date.now() / 1000;
  const quiet = Math.max(0, Math.floor(now - Math.max(pi.silent_since, claimedAt)));
  const left = Math.ceil(claimedAt + state.lease - now);
  return left > 0 ? `${by} claimed it · no word for ${quiet} s · lease ends in ${left} s`
    : `${by} claimed it · no word for ${quiet} s · lease over: another Pi takes over`;
}

function trail(m) {
  // What the Pis did with this command (computed by the demo from pins and markers).
  if (!m.trail || !m.trail.length) return null;
  return el("div", { class: "trail" }, m.trail.map((s) => {
    const live = s.live && s.tone === "claim" && m.pinned_by;
    return el("span", {
      class: `step ${s.tone}${s.live ? " live" : ""}`,
      title: s.tone === "claim" ? "a pin is a claim: Slack refuses a second one" : null,
      "data-by": live ? m.pinned_by : null, "data-claimed-at": live ? s.claimed_at : null,
      "data-text": live ? s.text : null,
    }, s.tone === "claim" ? el("span", { class: "dot" }) : null,
    el("span", { class: "step-text", text: (live && claimText(m.pinned_by, s.claimed_at)) || s.text }));
  }));
}

// The lease runs on while nothing else changes: recount the live claims twice a second.
setInterval(() => {
  for (const chip of document.querySelectorAll(".step.claim[data-by]")) {
    const text = claimText(chip.dataset.by, +chip.dataset.claimedAt) || chip.dataset.text;
    const span = chip.querySelector(".step-text");
    if (span.textContent !== text) span.textContent = text;
    chip.classList.toggle("silent", text !== chip.dataset.text);
  }
}, 500);

function reactions(m) {
  const plain = m.reactions.filter((r) => !r.meaning);
  if (!plain.length) return null;
  return el("div", { class: "reactions" }, plain.map((r) =>
    el("span", { class: "reaction", title: r.users.join(", ") }, r.emoji, " ", String(r.users.length))));
}

function messageNode(m, inThread) {
  const classes = ["msg", `kind-${m.kind}`];
  if (!state.seen.has(m.ts)) { classes.push("new"); state.seen.add(m.ts); }
  const answered = m.reply_to && state.messages.get(m.reply_to);
  const header = el("div", { class: "meta" },
    el("span", { class: "author", style: m.kind === "pi" || m.kind === "protocol" ? `color:${piColor(m.author)}` : null },
      m.kind === "person" ? "You" : m.author),
    m.kind === "pi" || m.kind === "protocol" ? el("span", { class: "bot-tag", text: "APP" }) : null,
    el("span", { class: "time", text: clock(m.time) }),
    answered && !inThread ? el("span", { class: "answers", text: `answers “${answered.text.slice(0, 40)}”` }) : null);
  const node = el("li", {
    class: classes.join(" "), "data-ts": m.ts, "data-author": m.author, "data-kind": m.kind,
    "data-reply-to": m.reply_to || null, "data-pinned": m.pinned_by ? "true" : null,
  },
  avatar(m.author, m.kind, inThread),
  el("div", { class: "body" }, header,
    m.blocks ? blockNodes(m.blocks, (id) => post("/api/click", { ts: m.ts, action_id: id }))
      : el("div", { class: "text" }, rich(m.text)), trail(m), reactions(m)));
  return node;
}

// Block Kit as Slack draws it, simplified: lines of text, rows of buttons, small notes.
// A button's click goes to the Pi that posted the message (or published the Home tab).
function blockNodes(blocks, click) {
  return el("div", { class: "blocks" }, blocks.map((b) => {
    if (b.kind === "text") return el("div", { class: "text" }, rich(b.text));
    if (b.kind === "note") return el("div", { class: "block-note", text: b.text });
    if (b.kind === "buttons") {
      return el("div", { class: "block-buttons" }, b.buttons.map((btn) => el("button", {
        class: `btn small${btn.style === "primary" ? " primary" : ""}`, type: "button",
        "data-action-id": btn.action_id, onclick: () => click(btn.action_id),
      }, btn.label)));
    }
    return null;
  }));
}

// ---------------------------------------------------------------- a Pi's Home tab
async function openHome(pi) {
  const result = await post(`/api/home/${pi}`);
  if (!result.ok) return;
  state.home = { pi, blocks: result.blocks };
  renderHome();
}

function renderHome() {
  const box = $("home");
  if (!box) return;
  const home = state.home;
  box.hidden = !home;
  if (!home) return;
  box.dataset.pi = home.pi;
  box.replaceChildren(
    el("div", { class: "home-head" }, el("b", { text: `${home.pi}'s Home tab` }), " (in Slack: the app's Home)",
      el("button", { class: "btn small", type: "button", "aria-label": "Close the Home tab", onclick: () => { state.home = null; renderHome(); } }, "Close")),
    blockNodes(home.blocks, (id) => post(`/api/home/${home.pi}/click`, { action_id: id })));
}

let renderQueued = false;
let forceBottom = true;
let stick = true; // follow new messages unless the reader scrolled up
$("messages").addEventListener("scroll", (e) => {
  const list = e.target;
  stick = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
});
function renderMessages() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const list = $("messages");
    const atBottom = forceBottom || stick;
    forceBottom = false;
    const all = [...state.messages.values()].sort((a, b) => a.time - b.time);
    const replies = new Map();
    for (const m of all) {
      if (m.parent && state.messages.has(m.parent)) {
        if (!replies.has(m.parent)) replies.set(m.parent, []);
        replies.get(m.parent).push(m);
      }
    }
    const nodes = [];
    for (const m of all) {
      if (m.parent && state.messages.has(m.parent)) continue;
      const node = messageNode(m, false);
      const thread = replies.get(m.ts);
      if (thread) node.querySelector(".body").append(el("ol", { class: "thread" }, thread.map((r) => messageNode(r, true))));
      nodes.push(node);
    }
    list.replaceChildren(...nodes);
    $("empty").hidden = nodes.length > 0;
    list.hidden = nodes.length === 0;
    if (atBottom) list.scrollTop = list.scrollHeight;
  });
}

// ---------------------------------------------------------------- house
const ICONS = {
  motion: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><circle cx="12" cy="12" r="2.5"/><path d="M7.8 7.8a6 6 0 0 0 0 8.4M16.2 7.8a6 6 0 0 1 0 8.4M4.9 4.9a10 10 0 0 0 0 14.2M19.1 4.9a10 10 0 0 1 0 14.2"/></svg>',
  door: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"><path d="M5 21V4a1 1 0 0 1 1-1h12a1 1 0 0 1 1 1v17M3 21h18"/><circle cx="15" cy="12" r="1" fill="currentColor"/></svg>',
  doorOpen: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"><path d="M5 21V4a1 1 0 0 1 1-1h12a1 1 0 0 1 1 1v17M3 21h18"/><path d="M5 3l8 3v15l-8-0z" fill="currentColor" fill-opacity=".15"/></svg>',
};
function icon(name) {
  const span = el("span", { class: "sensor-icon", "aria-hidden": "true" });
  span.innerHTML = ICONS[name]; // constant markup, never data
  return span;
}

function renderHouse() {
  const { lights, sensors } = state.house;
  $("lights").replaceChildren(...lights.map((l) => {
    const known = l.on !== null && l.on !== undefined;
    const level = known && l.on ? Math.max(0.15, (l.brightness ?? 100) / 100) : 0;
    const status = !known ? `Unknown: ${l.host || "the bridge"} is offline`
      : l.on ? `On${l.brightness !== null && l.kind === "hue" ? ` · ${l.brightness}%` : ""}` : "Off";
    return el("div", {
      class: `light${l.on ? " on" : ""}${known ? "" : " unknown"}`, "data-light": l.key,
      "data-on": known ? String(l.on) : "unknown", style: `--level:${level}`,
    },
    el("div", { class: "bulb", "aria-hidden": "true" }),
    el("div", { class: "light-info" },
      el("div", { class: "light-name", text: l.name }),
      el("div", { class: "light-state", text: `${status} · ${l.via}` }),
      l.kind === "hue" ? el("div", { class: "bar" }, el("span", { style: `width:${l.on ? l.brightness ?? 100 : 0}%` })) : null),
    el("button", {
      class: "btn", type: "button", title: `sends “${l.command}” to the channel`,
      "aria-label": `Toggle the ${l.name} light`, onclick: () => say(l.command),
    }, "Toggle"));
  }));
  if (!sensors.length) {
    $("sensors").replaceChildren(el("p", { class: "muted", text: "No sensors: the sensors plugin is not installed in this tree." }));
    return;
  }
  $("sensors").replaceChildren(...sensors.map((s) => {
    const known = s.active !== null && s.active !== undefined;
    const motion = s.kind === "motion";
    const label = !known ? `Unknown: ${s.host} is offline`
      : motion ? (s.active ? "Motion!" : "Still") : (s.active ? "Open" : "Closed");
    const action = motion ? "Walk past" : s.active ? "Close" : "Open";
    return el("div", { class: `sensor ${s.kind}${s.active ? " active" : ""}`, "data-sensor": s.key, "data-active": known ? String(s.active) : "unknown" },
      icon(motion ? "motion" : s.active ? "doorOpen" : "door"),
      el("div", {}, el("div", { class: "sensor-name", text: s.name }),
        el("div", { class: "sensor-state", text: label }),
        el("div", { class: "sensor-via", text: `${motion ? "Motion sensor" : "Door contact"} · ${s.via}` })),
      el("button", {
        class: "btn", type: "button", disabled: !known,
        onclick: () => post(`/api/sensors/${encodeURIComponent(s.key)}`, {}),
      }, action));
  }));
}

// ---------------------------------------------------------------- pis
function renderPis() {
  const list = $("pi-list");
  list.replaceChildren(...state.pis.map((p) => {
    const action = (name, label, cls, why) => el("button", {
      class: `btn ${cls}`, type: "button", "data-action": name, "aria-label": `${label} ${p.name}`, title: why,
      disabled: (name === "kill" && !p.running) || (name === "restore" && !p.cut_off) || (name === "cut_off" && (p.cut_off || !p.running)),
      onclick: () => post(`/api/pis/${p.name}/${name}`),
    }, label);
    const detail = p.state === "offline" ? p.detail || p.note : "";
    // Name and buttons on one row; its state and its update step span the width below.
    return el("li", { class: "pi", "data-pi": p.name, "data-state": p.state, title: p.pid ? `pid ${p.pid}` : null },
      el("div", { class: "avatar", style: `background:${piColor(p.name)}` }, `π${piNumber(p.name)}`, el("span", { class: "status-dot" })),
      el("div", { class: "pi-name" }, p.name, el("span", { class: "version", text: `v${p.version}` })),
      el("div", { class: "pi-actions" },
        action("kill", "Kill", "danger", "SIGKILL: like pulling its plug; it stays off until Start"),
        action("restart", p.running ? "Restart" : "Start",
          "", p.running ? "a clean restart: SIGTERM (like systemctl restart), then start" : "start its troupe run process"),
        p.cut_off ? action("restore", "Reconnect", "", "let its Slack calls through again")
          : action("cut_off", "Cut off", "", "cut it off from Slack: its calls hang, no events reach it")),
      el("div", { class: "pi-state" }, el("b", { text: p.state }), detail ? ` · ${detail}` : "",
        el("button", { class: "btn small home-btn", type: "button", "data-action": "home", "aria-label": `Home tab of ${p.name}`,
          title: "open this Pi's App Home tab: the house, with buttons", disabled: !p.running,
          onclick: () => openHome(p.name) }, "Home tab")),
      p.step ? el("div", { class: "pi-step", title: "its step in the update under way", text: p.step }) : null);
  }));
  const online = state.pis.filter((p) => p.state === "online").length;
  const total = state.pis.length;
  const cls = !state.connected ? "bad" : online === total ? "ok" : online ? "warn" : "bad";
  const text = state.stopped ? "The demo has stopped"
    : !state.connected ? "Reconnecting to the demo…" : `${online} of ${total} Pis online`;
  const versions = [...new Set(state.pis.map((p) => `v${p.version}`))].join(" · ");
  $("summary").replaceChildren(el("span", { class: `pill ${cls}`, "data-online": online }, text),
    versions ? el("span", { class: "pill extra", title: "the versions the Pis run", text: versions }) : null);
  renderUpdate();
}

function renderTrap() {
  const box = $("trap");
  box.classList.toggle("armed", state.trap);
  if (state.trap) {
    box.replaceChildren(
      el("span", {}, el("b", { text: "Armed. " }), "The next Pi to claim a command loses power right after pinning it. Type a command."),
      el("button", { class: "btn", type: "button", onclick: () => post("/api/trap", { armed: false }) }, "Cancel"));
  } else {
    box.replaceChildren(
      el("span", {}, el("b", { text: "Kill a Pi mid-command. " }),
        `Another Pi takes over its claim after the ${state.lease} s lease.`),
      el("button", { class: "btn danger", type: "button", "data-action": "trap", onclick: () => post("/api/trap", { armed: true }) }, "Arm"));
  }
}

function renderUpdate() {
  const box = $("update");
  const newer = state.update && state.update.newer.replace(/^v/, "");
  if (state.update && state.update.under_way) { // no second update while one runs
    box.replaceChildren(el("span", {}, el("b", { text: "Update under way. " }),
      "Each Pi's card shows its step; the house keeps answering."));
  } else if (state.update && !state.update.command) { // every Pi runs the newest version
    box.replaceChildren(
      el("span", {}, el("b", { text: `Every Pi runs ${newer}. ` }), "Each one can go back to its previous release."),
      el("button", { class: "btn", type: "button", onclick: () => say("rollback") }, "rollback"));
  } else if (state.update) {
    box.replaceChildren(
      el("span", {}, el("b", { text: `Version ${state.update.newer.replace(/^v/, "")} is ready. ` }),
        "The Pis update one at a time; the house keeps answering."),
      el("button", { class: "btn primary", type: "button", onclick: () => say(state.update.command) }, state.update.command));
  } else {
    box.replaceChildren(el("span", {}, el("b", { text: "Rolling updates " }), "need the update plugin, which this tree does not have yet."));
  }
}

// ---------------------------------------------------------------- hints, log, notes
function renderHints() {
  const chips = state.hints.map((h) => el("button", { class: "chip", type: "button", title: h.why, onclick: () => say(h.text) }, h.text));
  chips.splice(1, 0, el("button", {
    class: "chip danger", type: "button", title: "arms the trap, then sends “toggle dining light”",
    onclick: async () => { if ((await post("/api/trap", { armed: true })).ok) say("toggle dining light"); },
  }, "kill a Pi mid-command"));
  if (state.update && state.update.command && !state.update.under_way) chips.push(el("button", { class: "chip", type: "button", title: "rolls the newer version across the Pis", onclick: () => say(state.update.command) }, state.update.command));
  $("hints").replaceChildren(...chips);
}

function activityNode(a) {
  return el("li", { class: `log-${a.kind}` }, el("span", { class: "time", text: clock(a.time) }),
    el("span", { class: "log-text", text: a.text }));
}
function renderActivity() {
  $("activity").replaceChildren(...state.activity.slice(-200).reverse().map(activityNode));
}
function renderNotes() {
  $("notes").hidden = !state.notes.length;
  $("notes").replaceChildren(...state.notes.map((n) => el("div", { text: n })));
}

// ---------------------------------------------------------------- live feed
function apply(event) {
  switch (event.type) {
    case "snapshot":
      state.messages = new Map(event.messages.map((m) => [m.ts, m]));
      forceBottom = true;
      if (state.seen.size === 0) event.messages.forEach((m) => state.seen.add(m.ts));
      Object.assign(state, {
        activity: event.activity, pis: event.pis, house: event.house, hints: event.hints,
        update: event.update, trap: event.trap, notes: event.notes, lease: event.lease_s || 6,
      });
      $("channel").textContent = event.channel;
      $("say").placeholder = `Message #${event.channel}`;
      renderMessages(); renderHouse(); renderPis(); renderTrap(); renderUpdate(); renderHints();
      renderActivity(); renderNotes();
      break;
    case "message":
      state.messages.set(event.message.ts, event.message);
      renderMessages();
      break;
    case "message_deleted":
      state.messages.delete(event.ts);
      renderMessages();
      break;
    case "pis":
      state.pis = event.pis;
      if ("update" in event) { state.update = event.update; renderHints(); }
      renderPis();
      break;
    case "house":
      state.house = event.house; renderHouse();
      break;
    case "trap":
      state.trap = event.armed; renderTrap();
      break;
    case "home":
      if (state.home && state.home.pi === event.pi) { state.home.blocks = event.blocks; renderHome(); }
      break;
    case "activity":
      state.activity.push(event);
      $("activity").prepend(activityNode(event));
      break;
    default:
      break;
  }
}

let retry = 300;
function connect() {
  const ws = new WebSocket(`ws://${location.host}/api/events`);
  ws.onopen = () => { retry = 300; state.connected = true; state.stopped = false; document.body.dataset.live = "true"; };
  ws.onmessage = (msg) => apply(JSON.parse(msg.data));
  ws.onclose = (e) => {
    state.connected = false;
    state.stopped = e.code === 1001; // the demo said goodbye: keep trying, quietly
    document.body.dataset.live = "false";
    renderPis();
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  };
}

// ---------------------------------------------------------------- wiring
$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("say");
  const text = input.value.trim();
  if (!text) return;
  const send = e.target.querySelector(".send");
  send.disabled = true;
  const result = await say(text);
  send.disabled = false;
  if (result.ok) input.value = "";
  input.focus();
});
document.addEventListener("click", (e) => {
  const target = e.target.closest("[data-say]");
  if (target) say(target.dataset.say);
  const tab = e.target.closest("[data-show]");
  if (tab) {
    document.body.dataset.tab = tab.dataset.show;
    document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-current", String(b === tab)));
  }
});
connect();
