import { Writable } from 'stream';
import { expect } from 'chai';
import { ProgressReporter, setQuiet, isQuiet, formatDuration } from '../../src/core/progress';

function sink(tty: boolean): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = tty;
  return { stream, text: () => text };
}

describe('core/progress', () => {
  afterEach(() => setQuiet(false));

  it('plain output: a line every everyMs and at the end, with measured rate and ETA', () => {
    const out = sink(false);
    let t = 0;
    const p = new ProgressReporter('extract', 100, { stream: out.stream, unit: 'img', everyMs: 1000, barWidth: 10, now: () => t });
    for (let i = 1; i <= 100; i++) {
      t += 50; // 20 img/s
      p.update(i);
    }
    p.done();
    const lines = out.text().trim().split('\n');
    // t = 1000, 2000, ... 5000 (the last is also the end), then done().
    expect(lines).to.have.length(6);
    expect(lines[0]).to.equal('[##........] extract 20/100 20.0 img/s ETA 4s');
    expect(lines[4]).to.equal('[##########] extract 100/100 20.0 img/s ETA 0s');
    expect(lines[5]).to.equal('extract 100/100 done in 5s');
    expect(out.text()).to.not.contain('\r');
  });

  it('TTY: one line redrawn in place (throttled), forced lines kept, given rate/ETA shown', () => {
    const out = sink(true);
    let t = 0;
    const p = new ProgressReporter('step', 10, { stream: out.stream, unit: 'img', redrawMs: 100, barWidth: 0, now: () => t });
    t = 10;
    p.update(1, { suffix: 'loss 1.0000', rate: 64, eta: 75 });
    t = 20;
    p.update(2, { suffix: 'loss 0.9000', rate: 64, eta: 70 }); // within 100 ms: not redrawn
    t = 200;
    p.update(3, { suffix: 'loss 0.8000', rate: 64, eta: 65, force: true });
    p.log('checkpoint saved');
    const s = out.text();
    expect(s).to.equal(
      '\r\x1b[2Kstep 1/10 loss 1.0000 64.0 img/s ETA 1m15s' +
        '\r\x1b[2Kstep 3/10 loss 0.8000 64.0 img/s ETA 1m05s\n' +
        'checkpoint saved\n',
    );
  });

  it('quiet prints nothing, for the process or per reporter', () => {
    const out = sink(false);
    setQuiet(true);
    expect(isQuiet()).to.equal(true);
    const p = new ProgressReporter('x', 2, { stream: out.stream, everyN: 1 });
    p.tick();
    p.tick();
    p.done();
    setQuiet(false);
    const q = new ProgressReporter('y', 1, { stream: out.stream, quiet: true });
    q.tick();
    q.done();
    expect(out.text()).to.equal('');
    expect(formatDuration(59.6)).to.equal('1m00s');
  });
});
