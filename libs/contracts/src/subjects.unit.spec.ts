import { deliveryAckSubject, deliverySubject, deliverySubjectFilter, ownerSubjectToken } from './subjects.js';

describe('delivery subjects', () => {
  it('keeps a plain owner as it is and encodes any other as one token', () => {
    expect(deliverySubject('keyledger', 'acme', 'billing-svc_1')).toBe('keyledger.v1.delivery.acme.billing-svc_1');
    for (const owner of ['billing service', 'a.b', 'a>b', '*', 'ünïcode', '_plain']) expect(ownerSubjectToken(owner)).toMatch(/^_[A-Za-z0-9_-]+$/);
  });

  it('never gives two owners one token', () => {
    const owners = ['_x', 'x', `_${Buffer.from('_x').toString('base64url')}`, 'a b', 'a.b', 'a-b', 'A-b'];
    expect(new Set(owners.map(ownerSubjectToken)).size).toBe(owners.length);
  });

  it('takes acknowledgements on a subject the delivery stream does not capture', () => {
    const filter = deliverySubjectFilter('keyledger').replace(/>$/, '');
    expect(deliveryAckSubject('keyledger')).toBe('keyledger.v1.deliveries.ack');
    expect(deliveryAckSubject('keyledger').startsWith(filter)).toBe(false);
  });
});
