/**
 * The local Kafka broker, by hand: `tsx scripts/kafka.ts install|start|stop|status|topics`
 * (`npm run kafka:start`, ...). `start` also creates the topics.
 */
import { config } from '../shared/config.js';
import {
  brokerStatus,
  ensureBroker,
  installKafkaJars,
  LOCAL_BROKER,
  stopBroker,
} from './lib/broker.js';
import { createTopics } from './lib/topics.js';

const main = async (command: string | undefined): Promise<void> => {
  const configured = config().kafka.brokers;
  switch (command) {
    case 'install':
      await installKafkaJars();
      return;
    case 'start': {
      const broker = await ensureBroker(configured);
      await createTopics(broker.brokers);
      return;
    }
    case 'stop':
      await stopBroker();
      return;
    case 'status':
      process.stdout.write(`${await brokerStatus(configured)}\n`);
      return;
    case 'topics':
      await createTopics(configured ?? [LOCAL_BROKER]);
      return;
    default:
      throw new Error('usage: tsx scripts/kafka.ts install|start|stop|status|topics');
  }
};

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`[kafka] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
