/**
 * The lobby chat: one `lobby` actor of capability `chat`. New messages arrive through a subscription; the history
 * is loaded once (subscribe first, then load, then keep what is newer than the history).
 */
import type { Mesh } from 'meshrtc';
import { PALETTE, type ChatMessage, type LobbyEvent, type Player } from '../actors.js';
import { clockTime, h } from './ui.js';

const LOBBY = { capability: 'chat', type: 'lobby', id: 'lobby' } as const;

export class Chat {
  readonly element: HTMLElement;
  readonly #list: HTMLElement;
  readonly #input: HTMLInputElement;
  readonly #mesh: Mesh;
  readonly #player: () => Player;
  readonly #seen = new Set<number>();
  #loaded = false;
  readonly #early: ChatMessage[] = [];
  #unsubscribe: (() => void) | undefined;

  constructor(mesh: Mesh, player: () => Player) {
    this.#mesh = mesh;
    this.#player = player;
    this.#list = h('div', { class: 'chat-list', 'data-testid': 'chat-list', role: 'log', 'aria-live': 'polite' });
    this.#input = h('input', { class: 'chat-input', placeholder: 'Say hi to the room…', maxlength: 280, 'aria-label': 'chat message', 'data-testid': 'chat-input' });
    const form = h('form', { class: 'chat-form' }, this.#input, h('button', { type: 'submit', class: 'btn' }, 'Send'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#send();
    });
    this.element = h('section', { class: 'card chat' }, h('h2', {}, 'Lobby chat', h('span', { class: 'muted small' }, ' · capability chat')), this.#list, form);
    this.#showEmpty();
  }

  start(): void {
    this.#unsubscribe = this.#mesh.subscribe<LobbyEvent>(LOBBY, (e) => {
      if (e?.t !== 'message') return;
      if (this.#loaded) this.#add(e.message);
      else this.#early.push(e.message);
    }, {
      onError: (error) => {
        if (error.code === 'EventsLost') void this.#load();
      },
    });
    void this.#load();
  }

  stop(): void {
    this.#unsubscribe?.();
  }

  async #load(): Promise<void> {
    for (let delay = 300; ; delay = Math.min(delay * 2, 4000)) {
      try {
        const { reply } = await this.#mesh.call<{ messages: ChatMessage[]; seq: number }>({ ...LOBBY, payload: { op: 'history' } }, { timeoutMs: 8000, retry: true });
        for (const m of reply.messages) this.#add(m);
        this.#loaded = true;
        for (const m of this.#early.splice(0)) this.#add(m);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  #showEmpty(): void {
    if (this.#seen.size === 0) this.#list.replaceChildren(h('p', { class: 'muted empty' }, 'No messages yet.'));
  }

  #add(m: ChatMessage): void {
    if (this.#seen.has(m.seq)) return;
    if (this.#seen.size === 0) this.#list.replaceChildren();
    this.#seen.add(m.seq);
    const stick = this.#list.scrollHeight - this.#list.scrollTop - this.#list.clientHeight < 40;
    const line =
      m.from === null
        ? h('div', { class: 'chat-line system' }, m.text)
        : h(
            'div',
            { class: `chat-line${m.from.id === this.#player().id ? ' mine' : ''}` },
            h('span', { class: 'chat-time' }, clockTime(m.at)),
            h('span', { class: 'chat-name', style: `color:${PALETTE[m.from.color] ?? '#fff'}` }, m.from.name),
            h('span', { class: 'chat-text' }, m.text),
          );
    line.dataset['seq'] = String(m.seq);
    this.#list.append(line);
    while (this.#list.childElementCount > 150) this.#list.firstElementChild?.remove();
    if (stick) this.#list.scrollTop = this.#list.scrollHeight;
  }

  async #send(): Promise<void> {
    const text = this.#input.value.trim();
    if (text.length === 0) return;
    this.#input.value = '';
    try {
      await this.#mesh.call({ ...LOBBY, payload: { op: 'post', arg: { from: this.#player(), text } } }, { idempotencyKey: `${this.#player().id}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}`, timeoutMs: 8000 });
    } catch (error) {
      this.#input.value = text;
      this.#list.append(h('div', { class: 'chat-line error' }, `Not sent (${(error as { code?: string }).code ?? 'error'}). Try again.`));
    }
  }
}
