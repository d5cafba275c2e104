// What every scenario needs to use VS Code as a person does: the workbench in Debian's Chromium (playwright-core),
// the command palette, Quick Open, quick picks, input boxes, notifications, the editor, and the conversation view
// (a webview). Every wait is for a condition, with a timeout; every step saves a screenshot, and a failure saves
// one more and names it. The harness (tests/src/vscode.rs) sets PORT, FOLDER and SHOTS.
"use strict";
const path = require("node:path");
const { chromium } = require("playwright-core");

const PORT = process.env.PORT;
const FOLDER = process.env.FOLDER;
const SHOTS = process.env.SHOTS;

let shots = 0;

async function open() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // As the machine's notes require: no sandbox as root, and no background traffic to a closed network.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // A multi-root workspace opens from its `.code-workspace` file.
  const kind = FOLDER.endsWith(".code-workspace") ? "workspace" : "folder";
  await page.goto(`http://127.0.0.1:${PORT}/?${kind}=${encodeURIComponent(FOLDER)}`);
  await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
  const vs = new VsCode(browser, page);
  // What the workbench reports in the browser's console (errors from extension hosts and providers land here).
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") vs.console.push(`${m.type()}: ${m.text()}`);
  });
  // The extension is active once its status bar item shows.
  await vs.waitFor("the OpenHands status bar item", () => page.locator('.statusbar-item[id*="openhands"]').first(), 60000);
  return vs;
}

class VsCode {
  constructor(browser, page) {
    this.browser = browser;
    this.page = page;
    this.console = [];
  }

  /** Saves a screenshot named `label` (numbered in order) and returns its path. */
  async snap(label) {
    shots += 1;
    const file = path.join(SHOTS, `${String(shots).padStart(2, "0")}-${label}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** Runs one step of the scenario; on failure saves the screen and says which file to open. */
  async step(label, fn) {
    try {
      const value = await fn();
      await this.snap(label);
      return value;
    } catch (e) {
      const file = await this.snap(`${label}-FAILED`).catch(() => "(no screenshot)");
      throw new Error(`step "${label}" failed: ${e.message}\nthe screen: ${file}`);
    }
  }

  /** Waits until `locate()` finds a visible element; returns its locator. */
  async waitFor(what, locate, timeout = 30000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const loc = locate();
      if ((await loc.count()) > 0 && (await loc.first().isVisible().catch(() => false))) {
        return loc.first();
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      }
      await this.page.waitForTimeout(100);
    }
  }

  /** Waits until `check()` returns a truthy value (looking every `every` ms); returns it. */
  async until(what, check, timeout = 30000, every = 150) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      last = await check().catch((e) => {
        last = e;
        return undefined;
      });
      if (last) {
        return last;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      }
      await this.page.waitForTimeout(every);
    }
  }

  /** F1, the command's title typed, and Enter on that very command. */
  async palette(title) {
    await this.page.keyboard.press("F1");
    const input = await this.waitFor("the command palette", () => this.page.locator(".quick-input-widget input"));
    await input.fill(`>${title}`);
    const row = await this.waitFor(`"${title}" in the palette`, () =>
      this.page.locator(".quick-input-list .monaco-list-row", { hasText: title }),
    );
    await row.click();
  }

  /** Go to File (Quick Open, from the palette: a Ctrl+P can be taken by the page before the workbench has it):
   * opens `file` of the folder in its own editor. */
  async openFile(file) {
    await this.palette("Go to File...");
    await this.until("Quick Open", async () => {
      const input = this.page.locator(".quick-input-widget input").first();
      return (await input.isVisible()) && (await input.inputValue()) === "" && input;
    });
    await this.page.locator(".quick-input-widget input").first().fill(file);
    // The file itself, not an editor of it opened before (a diff), which Quick Open also lists.
    const row = await this.waitFor(`${file} in Quick Open`, () =>
      this.page.locator(".quick-input-list .monaco-list-row", { hasText: file }).filter({ hasNotText: "OpenHands" }));
    await row.click();
    // The file's own editor (not a diff of it, whose tab also names it).
    await this.waitFor(`the editor of ${file}`, () => this.page.locator(`.tabs-container .tab.active[aria-label="${file}"]`));
    await this.page.locator(".editor-group-container.active .editor-instance .monaco-editor .view-lines").first().click();
  }

  /** The quick input on screen (a pick or an input box) once its text (title, prompt, rows, placeholder) holds
   * `text`, exactly as written: the palette closing and the next pick opening share one widget. */
  async quickInput(text, timeout = 30000) {
    return this.until(`the quick input "${text}"`, async () => {
      const widget = this.page.locator(".quick-input-widget").first();
      if (!(await widget.isVisible().catch(() => false))) {
        return undefined;
      }
      const shown = await widget.evaluate((w) => {
        const input = w.querySelector("input");
        return `${w.innerText}\n${input ? input.placeholder : ""}`;
      });
      return shown.includes(text) && shown;
    }, timeout);
  }

  /** Clicks the row holding `text` in the quick pick on screen. */
  async pickRow(text) {
    const row = await this.waitFor(`"${text}" in the pick`, () =>
      this.page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: text }),
    );
    await row.click();
  }

  /** Clicks OK in the many-item pick on screen. */
  async ok() {
    const button = await this.waitFor("the pick's OK", () =>
      this.page.locator(".quick-input-widget .monaco-button", { hasText: /^OK$/ }),
    );
    await button.click();
  }

  /** Start Task from the palette, as `task`. */
  async startTask(task) {
    await this.palette("OpenHands: Start Task");
    await this.answer("What should the agent do?", task);
  }

  /** Waits until the conversation view of `task` says its state is `state` (its header: "finished · …"); returns
   * the view's text. */
  async viewSays(task, state, timeout = 240000) {
    return this.until(`the view of "${task}" to say ${state}`, async () => {
      const text = await this.webviewText(task);
      return text.includes(`${state} ·`) && text;
    }, timeout);
  }

  /** Types `text` into the input box that shows `prompt` and presses Enter. */
  async answer(prompt, text) {
    await this.quickInput(prompt);
    const input = this.page.locator(".quick-input-widget input").first();
    await input.fill(text);
    await this.page.keyboard.press("Enter");
  }

  /** Waits for a notification toast holding `text`; returns its text. */
  async notification(text, timeout = 30000) {
    const toast = await this.waitFor(`a notification "${text}"`, () =>
      this.page.locator(".notifications-toasts .notification-toast", { hasText: text }), timeout);
    return toast.innerText();
  }

  /** The OpenHands status bar item's tooltip once it holds `text` (hovered until it shows). */
  async statusTooltip(text) {
    const item = this.page.locator(".statusbar-item", { hasText: "OpenHands" }).first();
    return this.until(`the status bar's tooltip with "${text}"`, async () => {
      await this.page.mouse.move(0, 0);
      await item.hover();
      const hover = this.page.locator(".workbench-hover, .monaco-hover").filter({ hasText: text }).first();
      return (await hover.isVisible().catch(() => false)) && hover.innerText();
    }, 30000, 500);
  }

  /** The text of every notification shown now. */
  async notifications() {
    return this.page.locator(".notifications-toasts .notification-toast").allInnerTexts();
  }

  /** The text of the active editor, as the editor model holds it (not only the lines on screen). */
  async editorText() {
    return this.page.evaluate(() => {
      const lines = [...document.querySelectorAll(".editor-instance .monaco-editor .view-lines .view-line")];
      return lines
        .map((l) => ({ top: parseFloat(l.style.top), text: l.innerText.replace(/\u00a0/g, " ") }))
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text)
        .join("\n");
    });
  }

  /** The text of the webview whose document holds `marker` (the conversation view), or "". */
  async webviewText(marker) {
    // Webviews live in frames of their own (the workbench's page also names them, in tab titles).
    for (const frame of this.page.frames().filter((f) => f.url().includes("/webview/"))) {
      const text = await frame.evaluate(() => document.body && document.body.innerText).catch(() => "");
      if (text && text.includes(marker)) {
        return text;
      }
    }
    return "";
  }

  /** The frame of the webview whose text holds `marker`. */
  async webviewFrame(marker) {
    return this.until(`the webview showing "${marker}"`, async () => {
      for (const frame of this.page.frames().filter((f) => f.url().includes("/webview/"))) {
        const text = await frame.evaluate(() => document.body && document.body.innerText).catch(() => "");
        if (text && text.includes(marker)) {
          return frame;
        }
      }
      return undefined;
    });
  }

  /** Clicks the button named exactly `name` in the webview showing `marker`, once it shows. */
  async webviewButton(marker, name) {
    const frame = await this.webviewFrame(marker);
    const button = frame.getByRole("button", { name, exact: true });
    await button.waitFor({ state: "visible", timeout: 30000 });
    await button.click();
  }

  /** Clicks the button `name` of the notification holding `text`. */
  async notificationButton(text, name) {
    const toast = await this.waitFor(`a notification "${text}"`, () =>
      this.page.locator(".notifications-toasts .notification-toast", { hasText: text }), 60000);
    await toast.getByRole("button", { name, exact: true }).click();
  }

  /** Closes the notification holding `text` with its own close button, as a user dismisses it. */
  async dismissNotification(text) {
    const toast = await this.waitFor(`a notification "${text}"`, () =>
      this.page.locator(".notifications-toasts .notification-toast", { hasText: text }), 60000);
    await toast.hover();
    await toast.locator(".codicon-notifications-clear").first().click();
    await this.until("the notification to close", async () =>
      (await this.page.locator(".notifications-toasts .notification-toast", { hasText: text }).count()) === 0);
  }

  async close() {
    await this.browser.close();
  }
}

/** Runs `scenario(vs)` in a fresh workbench; prints the result as JSON; exits non-zero on failure. */
function run(scenario) {
  (async () => {
    const vs = await open();
    try {
      const result = await scenario(vs);
      process.stdout.write(`${JSON.stringify(result ?? {})}\n`);
    } finally {
      await vs.close();
    }
  })().catch((e) => {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  });
}

module.exports = { run, FOLDER };
