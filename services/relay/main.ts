import { bootstrapService } from '@keyledger/service-kit';
import { RelayModule } from './relay.module.js';

await bootstrapService({ service: 'relay', defaultPort: 3006, module: (context) => RelayModule.forService(context) });
