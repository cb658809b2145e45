from tests.contract.fixtures import contract_checked

__all__ = ["contract_checked"]
