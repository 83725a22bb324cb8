"""``trainer.backend=vector``: PPO on batched torch tensors over a batched simulator (EnvPool or Gymnasium's
vector env). ``run_vector_training`` is called by ``eureka.train.runner.run_training_raw``, the one place a
backend is chosen."""
