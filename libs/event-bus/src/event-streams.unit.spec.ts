import { busTopology } from './bus-topology.js';
import { EventStreamNotReady, eventStreamConfigs, streamConfigDifferences } from './event-streams.js';

describe('a stream checked against its configuration', () => {
  const [events] = eventStreamConfigs(busTopology('kl', 'EV'));

  it('differs in nothing from the configuration it was created with', () => {
    expect(streamConfigDifferences(events!, { ...events!, max_msgs: -1, sealed: false })).toEqual([]);
  });

  it('names every field that differs: subjects added to capture other messages, a smaller limit', () => {
    expect(streamConfigDifferences(events!, { ...events!, subjects: ['kl.events.>', 'kl.v1.keys.>'], max_bytes: 1024 })).toEqual([
      'subjects is ["kl.events.>","kl.v1.keys.>"], expected ["kl.events.>"]',
      `max_bytes is 1024, expected ${events!.max_bytes}`,
    ]);
  });

  it('says in one line which stream to have the migrate job configure', () => {
    expect(new EventStreamNotReady('EV', undefined).message).toBe(
      'stream EV does not exist: run `keyledger migrate` with the same stream settings; it alone configures the streams',
    );
    expect(new EventStreamNotReady('EV', ['max_bytes is 1, expected 2']).message).not.toContain('\n');
  });
});
