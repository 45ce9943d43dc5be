import { transientFaultRules, TransientFaults } from '../../tools/simulator/transient-faults';

/** The chance each rule is the one that fires, rules tried in order. */
function firingShares(probabilities: number[]): number[] {
  let untouched = 1;
  return probabilities.map((p) => {
    const share = untouched * p;
    untouched *= 1 - p;
    return share;
  });
}

describe('transient fault rules (PUT /control/http-faults transient)', () => {
  it('splits the percentage evenly over each kind and phase', () => {
    const rules = transientFaultRules(TransientFaults.parse({ percent: 30 }));
    expect(rules.map((r) => `${r.kind}/${r.phase}`)).toEqual([
      'http5xx/before',
      'http5xx/after',
      'reset/before',
      'reset/after',
      'timeout/before',
      'timeout/after',
      'busy/before',
    ]);
    const shares = firingShares(rules.map((r) => r.probability));
    for (const share of shares) expect(share).toBeCloseTo(0.3 / 7, 10);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(0.3, 10);
  });

  it('keeps to the kinds and methods asked for, and 100 % fails every call', () => {
    const rules = transientFaultRules(TransientFaults.parse({ percent: 100, kinds: ['busy', 'reset'], methods: ['ListDrives'] }));
    expect(rules.map((r) => [r.kind, r.phase, r.methods])).toEqual([
      ['busy', 'before', ['ListDrives']],
      ['reset', 'before', ['ListDrives']],
      ['reset', 'after', ['ListDrives']],
    ]);
    expect(firingShares(rules.map((r) => r.probability)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
  });

  it('refuses a percentage outside 0..100 and an unknown kind', () => {
    expect(TransientFaults.safeParse({ percent: 130 }).success).toBe(false);
    expect(TransientFaults.safeParse({ percent: 10, kinds: ['error'] }).success).toBe(false);
  });
});
