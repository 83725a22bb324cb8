"""eureka: LLM-written dense rewards, checked in a sandbox, trained and evolved."""

__version__ = "0.1.0"
