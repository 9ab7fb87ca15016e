import { isPublicUnicastAddress } from './public-address.js';

describe('public unicast addresses (what webhooks may reach by default)', () => {
  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('accepts %s', (address) =>
    expect(isPublicUnicastAddress(address)).toBe(true),
  );

  it.each([
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '100.64.0.1',
    '127.0.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fd00::1',
    'fe80::1',
    'ff02::1',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    '64:ff9b::a00:1',
    '2001:db8::1',
    'localhost',
    'not an address',
    '',
  ])('refuses %s', (address) => expect(isPublicUnicastAddress(address)).toBe(false));
});
