// The widget's whole stylesheet, inside its shadow root: `all: initial` on the host cuts every
// inherited rule of the page, and nothing here can reach the page.
export const STYLES = `
:host{all:initial;--ld-accent:#1d5bd8;--ld-on-accent:#fff;--ld-bg:#fff;--ld-fg:#1d2330;--ld-muted:#5d6575;--ld-soft:#f1f3f7;--ld-line:#dde1e8}
*{box-sizing:border-box}
[hidden]{display:none!important}
.root{position:fixed;bottom:20px;right:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ld-fg)}
.root.left{right:auto;left:20px}
button,input,textarea{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:3px solid #ffb000;outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launcher{width:58px;height:58px;border-radius:50%;border:0;background:var(--ld-accent);color:var(--ld-on-accent);box-shadow:0 6px 20px #0004;display:grid;place-items:center;position:relative}
.launcher svg{width:28px;height:28px}
.badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#d7263d;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center}
.badge[hidden]{display:none}
.panel{position:absolute;bottom:72px;right:0;width:370px;height:min(600px,calc(100vh - 110px));background:var(--ld-bg);border-radius:14px;box-shadow:0 12px 40px #0005;display:flex;flex-direction:column;overflow:hidden}
.left .panel{right:auto;left:0}
.panel[hidden]{display:none}
header{display:flex;align-items:center;gap:8px;padding:12px 12px 12px 16px;background:var(--ld-accent);color:var(--ld-on-accent)}
header h2{flex:1;margin:0;font-size:16px;font-weight:650}
.icon-btn{border:0;background:transparent;color:inherit;width:36px;height:36px;border-radius:8px;display:grid;place-items:center}
.icon-btn:hover{background:#ffffff26}
.status{padding:6px 16px;background:var(--ld-soft);color:var(--ld-muted);font-size:13px;border-bottom:1px solid var(--ld-line)}
.status:empty{display:none}
.status p{margin:2px 0}
.status a{color:var(--ld-accent);font-weight:600}
.banner{padding:6px 16px;background:#fff4d6;color:#6b4e00;font-size:13px}
.banner[hidden]{display:none}
.view{flex:1;display:flex;flex-direction:column;min-height:0}
.view[hidden]{display:none}
.log{flex:1;overflow-y:auto;margin:0;padding:12px 14px;list-style:none;display:flex;flex-direction:column;gap:8px}
.item{display:flex;gap:8px;align-items:flex-end;max-width:88%}
.item.mine{align-self:flex-end;flex-direction:row-reverse}
.avatar{flex:none;width:30px;height:30px;border-radius:50%;display:grid;place-items:center;font-size:12px;font-weight:700;background:#dfe7fb;color:#1d3d8f}
.avatar.bot{background:#e6f4ea;color:#1e6b34}
.avatar svg{width:18px;height:18px}
.body{display:flex;flex-direction:column;min-width:0}
.mine .body{align-items:flex-end}
.who{font-size:12px;color:var(--ld-muted);margin:0 4px 2px;display:flex;gap:6px;align-items:center}
.tag{font-size:10px;font-weight:700;letter-spacing:.04em;text-transform:uppercase;background:#e6f4ea;color:#1e6b34;border-radius:4px;padding:0 4px}
.bubble{unicode-bidi:isolate;padding:8px 12px;border-radius:14px;background:var(--ld-soft);white-space:pre-wrap;overflow-wrap:anywhere}
.mine .bubble{background:var(--ld-accent);color:var(--ld-on-accent)}
.mine .bubble a{color:inherit}
.bubble a{color:var(--ld-accent)}
.pending .bubble{opacity:.65}
.cf{font-size:10px;font-family:ui-monospace,monospace;border:1px dotted currentColor;border-radius:3px;padding:0 2px;margin:0 1px}
.failed .bubble{outline:2px solid #d7263d}
.meta{font-size:11px;color:var(--ld-muted);margin:2px 4px 0}
.note{align-self:center;max-width:90%;text-align:center;font-size:12px;color:var(--ld-muted);font-style:italic}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.chip{border:1px solid var(--ld-accent);color:var(--ld-accent);background:var(--ld-bg);border-radius:16px;padding:4px 10px;font-size:13px;text-align:left}
.chip:hover{background:var(--ld-soft)}
.quick .chip{background:var(--ld-accent);color:var(--ld-on-accent);font-weight:600}
.quick .chip:hover{background:var(--ld-accent);opacity:.9}
.intro{margin:0;padding:10px 16px 0;font-size:13px;color:var(--ld-muted)}
.endbar{padding:0 12px 8px;font-size:13px;color:var(--ld-muted);display:flex;gap:8px;align-items:center;justify-content:flex-end;flex-wrap:wrap}
.kb-heading{margin:4px 0 0;font-size:13px;color:var(--ld-muted);font-weight:600}
.typing{padding:0 16px 4px;font-size:12px;color:var(--ld-muted);min-height:18px}
.composer{display:flex;gap:8px;padding:10px 12px;border-top:1px solid var(--ld-line);align-items:flex-end}
.composer textarea{flex:1;resize:none;border:1px solid var(--ld-line);border-radius:10px;padding:8px 10px;max-height:120px;min-height:40px;background:var(--ld-bg)}
.send{border:0;border-radius:10px;background:var(--ld-accent);color:var(--ld-on-accent);width:42px;height:40px;display:grid;place-items:center}
.form{padding:16px;display:flex;flex-direction:column;gap:10px;overflow-y:auto}
.form h3{margin:0;font-size:15px}
.form p{margin:0;color:var(--ld-muted)}
.form p.problem{color:#b0182b}
.form p.problem:empty{display:none}
.form label{display:flex;flex-direction:column;gap:4px;font-size:13px;font-weight:600}
.form input,.form textarea{border:1px solid var(--ld-line);border-radius:8px;padding:8px 10px;font-weight:400;background:var(--ld-bg)}
.primary{border:0;border-radius:10px;background:var(--ld-accent);color:var(--ld-on-accent);padding:10px 14px;font-weight:600}
.stars{display:flex;gap:4px;border:0;padding:0;margin:0}
.stars label{flex-direction:row;font-size:26px;color:#c4c9d4;cursor:pointer}
.stars input{position:absolute;opacity:0;width:1px;height:1px}
.stars label.on{color:#f5a623}
.stars input:focus-visible+span{outline:3px solid #ffb000}
.kb{padding:12px 14px;display:flex;flex-direction:column;gap:8px;overflow-y:auto;flex:1}
.kb input{border:1px solid var(--ld-line);border-radius:10px;padding:8px 10px}
.kb ul{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:6px}
.result{width:100%;text-align:left;border:1px solid var(--ld-line);background:var(--ld-bg);border-radius:10px;padding:8px 10px}
.result strong{display:block}
.result span{color:var(--ld-muted);font-size:13px}
.article h3{margin:4px 0 8px}
.article p{margin:0 0 8px;white-space:pre-wrap;overflow-wrap:anywhere}
.link{border:0;background:none;color:var(--ld-accent);padding:4px 0;display:inline-flex;gap:4px;align-items:center;font-weight:600}
.error{color:#b0182b}
@media (max-width:480px){
 .root{bottom:12px;right:12px}
 input,textarea{font-size:16px}
 .root.left{left:12px}
 .root.open{inset:0}
 .root.open .launcher{display:none}
 .panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0}
}
`;
