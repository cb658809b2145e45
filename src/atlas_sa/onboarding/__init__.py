"""A new organization's first credentials: ``atlas-sa bootstrap`` and createOrganization with its ``serviceAccount``.
Above the features it composes (orgs, projects, service_accounts, api_keys), so none of them imports another
sideways or up to make an organization with an account."""
