/** The dashboard's stylesheet, injected once per document. Every class starts with `mrd-`. */
export const DASHBOARD_CSS = `
.mrd {
  --mrd-bg: #0b0e14; --mrd-card: #131824; --mrd-card2: #182030; --mrd-line: #232b3b; --mrd-text: #e6e9f0;
  --mrd-muted: #8a94a8; --mrd-accent: #4cc9f0; --mrd-good: #38d39f; --mrd-warn: #ffb703; --mrd-bad: #ef476f;
  color: var(--mrd-text); font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  display: grid; gap: 14px; grid-template-columns: minmax(0, 1.25fr) minmax(0, 1fr); align-content: start;
}
.mrd * { box-sizing: border-box; }
.mrd-card { background: var(--mrd-card); border: 1px solid var(--mrd-line); border-radius: 12px; padding: 14px 16px; min-width: 0; }
.mrd-card h3 { margin: 0 0 10px; font-size: 12px; font-weight: 650; letter-spacing: .06em; text-transform: uppercase; color: var(--mrd-muted); display: flex; align-items: center; gap: 8px; }
.mrd-card h3 .mrd-sub { text-transform: none; letter-spacing: 0; font-weight: 450; }
.mrd-span { grid-column: 1 / -1; }
.mrd-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 14px; }
.mrd-title { font-size: 17px; font-weight: 700; margin-right: auto; display: flex; align-items: center; gap: 10px; }
.mrd-live { display: inline-flex; align-items: center; gap: 6px; font-size: 11px; font-weight: 600; color: var(--mrd-good); background: rgba(56,211,159,.12); padding: 2px 8px; border-radius: 99px; }
.mrd-live::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; animation: mrd-pulse 1.6s ease-in-out infinite; }
.mrd-live.mrd-stale { color: var(--mrd-warn); background: rgba(255,183,3,.12); }
@keyframes mrd-pulse { 50% { opacity: .35; } }
.mrd-tiles { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 10px; width: 100%; }
.mrd-tile { background: var(--mrd-card2); border: 1px solid var(--mrd-line); border-radius: 10px; padding: 9px 12px; position: relative; overflow: hidden; min-height: 64px; }
.mrd-tile-label { font-size: 11px; color: var(--mrd-muted); text-transform: uppercase; letter-spacing: .05em; }
.mrd-tile-value { font-size: 21px; font-weight: 700; font-variant-numeric: tabular-nums; margin-top: 2px; position: relative; z-index: 1; }
.mrd-tile canvas { position: absolute; left: 0; right: 0; bottom: 0; width: 100%; height: 30px; opacity: .9; }
.mrd-table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
.mrd-table th { text-align: left; font-size: 11px; font-weight: 600; color: var(--mrd-muted); padding: 4px 8px 8px; border-bottom: 1px solid var(--mrd-line); white-space: nowrap; }
.mrd-table td { padding: 7px 8px; border-bottom: 1px solid rgba(35,43,59,.6); white-space: nowrap; }
.mrd-table tr:last-child td { border-bottom: 0; }
.mrd-table td.mrd-num, .mrd-table th.mrd-num { text-align: right; }
.mrd-peer { display: inline-flex; align-items: center; gap: 7px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.mrd-swatch { width: 10px; height: 10px; border-radius: 3px; flex: none; }
.mrd-you { font-family: system-ui, sans-serif; font-size: 10px; font-weight: 700; color: var(--mrd-bg); background: var(--mrd-accent); padding: 0 5px; border-radius: 4px; }
.mrd-kind { font-size: 10px; font-weight: 650; padding: 1px 6px; border-radius: 4px; text-transform: uppercase; letter-spacing: .04em; }
.mrd-kind-edge { background: rgba(157,78,221,.18); color: #c77dff; }
.mrd-kind-browser { background: rgba(76,201,240,.14); color: #4cc9f0; }
.mrd-cap { display: inline-block; font-size: 11px; padding: 0 6px; margin-right: 4px; border-radius: 4px; background: #1f2738; color: #b8c2d6; }
.mrd-state { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; }
.mrd-state::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: var(--mrd-muted); }
.mrd-state-open::before, .mrd-state-self::before { background: var(--mrd-good); }
.mrd-state-connecting::before, .mrd-state-requesting::before { background: var(--mrd-warn); }
.mrd-state-backoff::before { background: var(--mrd-bad); }
.mrd-muted { color: var(--mrd-muted); }
.mrd-shards { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 16px; align-items: start; }
.mrd-shards canvas { image-rendering: pixelated; border-radius: 6px; background: #0d111a; display: block; }
.mrd-seg { display: inline-flex; background: var(--mrd-card2); border: 1px solid var(--mrd-line); border-radius: 8px; padding: 2px; gap: 2px; }
.mrd-seg button { all: unset; cursor: pointer; font-size: 12px; padding: 3px 10px; border-radius: 6px; color: var(--mrd-muted); }
.mrd-seg button.mrd-on { background: #263047; color: var(--mrd-text); }
.mrd-legend { display: grid; gap: 7px; font-variant-numeric: tabular-nums; }
.mrd-legend-row { display: grid; grid-template-columns: 1fr auto; gap: 4px 10px; align-items: center; }
.mrd-legend-bar { grid-column: 1 / -1; height: 4px; border-radius: 2px; background: #1f2738; overflow: hidden; }
.mrd-legend-bar span { display: block; height: 100%; border-radius: 2px; transition: width .4s ease; }
.mrd-note { font-size: 12px; color: var(--mrd-muted); margin-top: 10px; }
.mrd-flow canvas { width: 100%; height: 360px; display: block; }
.mrd-feed { list-style: none; margin: 0; padding: 0; max-height: 300px; overflow: auto; font-size: 12px; }
.mrd-feed li { display: grid; grid-template-columns: 44px 84px minmax(0, 1fr); gap: 8px; padding: 5px 2px; border-bottom: 1px solid rgba(35,43,59,.6); align-items: center; }
.mrd-feed li.mrd-fresh { animation: mrd-in .8s ease-out; }
@keyframes mrd-in { from { background: rgba(76,201,240,.18); } to { background: transparent; } }
.mrd-ago { color: var(--mrd-muted); font-variant-numeric: tabular-nums; text-align: right; }
.mrd-badge { font-size: 10px; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; padding: 1px 6px; border-radius: 4px; text-align: center; }
.mrd-badge-spawned { background: rgba(56,211,159,.15); color: #38d39f; }
.mrd-badge-passivated { background: rgba(138,148,168,.15); color: #aab3c5; }
.mrd-badge-stopped { background: rgba(255,183,3,.14); color: #ffb703; }
.mrd-badge-moved { background: rgba(76,201,240,.15); color: #4cc9f0; }
.mrd-badge-failed { background: rgba(239,71,111,.16); color: #ef476f; }
.mrd-addr { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.mrd-addr .mrd-peer { font-size: 11px; }
.mrd-counts { display: grid; gap: 8px; margin-bottom: 12px; }
.mrd-count-row { display: grid; grid-template-columns: 120px minmax(0, 1fr) 40px; gap: 10px; align-items: center; font-variant-numeric: tabular-nums; }
.mrd-stack { display: flex; height: 12px; border-radius: 3px; overflow: hidden; background: #1f2738; }
.mrd-stack span { height: 100%; }
.mrd-types { display: flex; flex-wrap: wrap; gap: 12px; font-size: 11px; color: var(--mrd-muted); margin-bottom: 10px; }
.mrd-types i { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.mrd-empty { color: var(--mrd-muted); font-style: italic; padding: 6px 0; }
.mrd-feed li.mrd-empty { display: block; border: 0; }
@media (max-width: 1100px) { .mrd { grid-template-columns: minmax(0, 1fr); } .mrd-tiles { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
`;
