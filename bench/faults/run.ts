/**
 * Fault and load figures in one run (#22): RTSP flaps, NATS restarts, attach/detach churn.
 *
 *   npx tsx --expose-gc bench/faults/run.ts [--kills 20] [--freeze-s 15] [--restarts 3] [--cycles 200]
 *
 * The soak (4 streams, 30 minutes) is bench/soak/run.ts.
 */
import { parseArgs } from 'node:util';
import { ensureThreadPool } from '../lib/thread-pool.js';

if (ensureThreadPool()) {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '20' },
      'freeze-s': { type: 'string', default: '15' },
      restarts: { type: 'string', default: '3' },
      cycles: { type: 'string', default: '200' },
    },
  });
  const { rtspFlaps, natsRestarts } = await import('./faults.js');
  const { churn } = await import('./churn.js');
  const log = (l: string) => console.log(l);
  console.log(
    `RTSP flaps: ${values.kills} kills with random 1-5 s outages, then a ${values['freeze-s']} s freeze`,
  );
  const f = await rtspFlaps(Number(values.kills), Number(values['freeze-s']) * 1000, log);
  const t = [...f.ttffMs].sort((a, b) => a - b);
  const pct = (q: number) => t[Math.min(t.length - 1, Math.floor(q * t.length))] ?? NaN;
  console.log(`NATS: ${values.restarts} restarts of nats-server (same port and store)`);
  const n = await natsRestarts(Number(values.restarts), log);
  console.log(
    `churn: ${values.cycles} attach/detach cycles (MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'})`,
  );
  const cycles = Number(values.cycles);
  const c = cycles >= 10 ? await churn(cycles, log) : [];
  console.log('\n| figure | result | target |\n|---|---|---|');
  console.log(`| RTSP kills recovered | ${f.recovered}/${f.outages} | all |`);
  console.log(
    `| time to first frame after the server returned (min / median / p90 / max) | ${t[0]} / ${pct(0.5)} / ${pct(0.9)} / ${t[t.length - 1]} ms | |`,
  );
  console.log(
    `| 15 s freeze recovered | ${f.freezeRecovered ? `yes, first frame ${f.freezeTtffMs} ms after SIGCONT` : 'no'} | yes |`,
  );
  console.log(
    `| delivered frames (stream time) covered by a window summary | ${f.framesCovered}/${f.framesDelivered} = ${((100 * f.framesCovered) / Math.max(1, f.framesDelivered)).toFixed(2)}% (${f.windows} windows; ${f.framesAfterLastWindow} frames after the last closed window) | 100% |`,
  );
  console.log(`| analysed keyframes in no window | ${f.keyframesInNoWindow} of ${f.keyframes} | 0 |`);
  console.log(
    `| NATS restarts: messages lost / duplicated | ${n.lost} / ${n.duplicated} (${n.handedOver} handed over, ${n.stored} in JetStream) | 0 / 0 |`,
  );
  const c10 = c.find((p) => p.cycle === 10);
  const cLast = c.at(-1);
  if (c10 && cLast) {
    const ratio = cLast.rssMiB / c10.rssMiB;
    console.log(
      `| churn RSS at cycle 10 / ${cLast.cycle} | ${c10.rssMiB.toFixed(1)} / ${cLast.rssMiB.toFixed(1)} MiB (x${ratio.toFixed(3)}) | <= x1.10 |`,
    );
    console.log(`| churn fds at cycle 10 / ${cLast.cycle} | ${c10.fds} / ${cLast.fds} | |`);
    console.log(`| churn threads at cycle 10 / ${cLast.cycle} | ${c10.threads} / ${cLast.threads} | |`);
  }
  process.exit(0);
}
