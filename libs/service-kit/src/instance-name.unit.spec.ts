import { streamIdOf } from '@keyledger/contracts';
import { instanceName } from './instance-name.js';

describe('instance name', () => {
  it('names service, host and pid, with a random tail that differs between processes', () => {
    expect(instanceName('verifier', 'verifier-7d9f-abcde', 1, '0a1b2c3d')).toBe('verifier-verifier-7d9f-abcde-1-0a1b2c3d');
    expect(instanceName('verifier', 'h', 1)).not.toBe(instanceName('verifier', 'h', 1));
  });

  it.each([['ip-10-0-0-1.ec2.internal'], ['a'.repeat(253)], ['host with spaces/and*wildcards>'], [''], ['ünïcödé']])(
    'makes a name a stream id accepts from the host name %j',
    (host) => {
      const name = instanceName('verifier', host, 123456);
      expect(() => streamIdOf('credits', name)).not.toThrow();
      expect(name).toMatch(/^verifier-[A-Za-z0-9.-]{1,63}-123456-[0-9a-f]{8}$/);
    },
  );
});
