import type { Channel, ChannelModel } from 'amqplib';

/** A long-running tutorial program (a consumer), stopped the way its SIGINT handler would stop it. */
export interface Running {
  stop(): Promise<void>;
}

const running = new Set<Running>();

export function onInterrupt(connection: ChannelModel, channel: Channel): Running {
  const program: Running = {
    async stop() {
      if (!running.delete(program)) return;
      await channel.close();
      await connection.close();
    },
  };
  running.add(program);
  return program;
}

/** Stops the programs a failed test left running. */
export async function stopAll(): Promise<void> {
  await Promise.allSettled([...running].map((program) => program.stop()));
}
