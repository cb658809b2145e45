"""All SQL about projects."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atlas_sa.changes import account_key, naming, stage
from atlas_sa.kit.pagination import PageRequest
from atlas_sa.models import Project, ProjectAssignment


class DuplicateProjectName(Exception):
    pass


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, project: Project) -> None:
        # A savepoint keeps the request's transaction usable when the unique constraint rejects the row.
        try:
            async with self.session.begin_nested():
                self.session.add(project)
        except IntegrityError as exc:
            raise DuplicateProjectName(project.name) from exc

    async def get(self, project_id: str, *, for_update: bool = False) -> Project | None:
        # FOR UPDATE serialises a delete with others of the same project (PostgreSQL; SQLite's write lock already
        # does): the later one then finds it gone instead of deleting nothing and recording a second event.
        return await self.session.get(Project, project_id, with_for_update=for_update or None)

    async def by_name(self, name: str, org_ids: Collection[str] | None) -> Project | None:
        statement = select(Project).where(Project.name == name)
        if org_ids is not None:
            statement = statement.where(Project.org_id.in_(list(org_ids)))
        return (await self.session.execute(statement.order_by(Project.id).limit(1))).scalar_one_or_none()

    async def page(
        self,
        page: PageRequest,
        *,
        org_id: str | None = None,
        only_ids: Collection[str] | None = None,
        name: str | None = None,
    ) -> tuple[Sequence[Project], int]:
        statement = select(Project)
        if org_id is not None:
            statement = statement.where(Project.org_id == org_id)
        if only_ids is not None:
            statement = statement.where(Project.id.in_(list(only_ids)))
        if name:
            statement = statement.where(Project.name == name)
        total = (await self.session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
        rows = (
            (await self.session.execute(statement.order_by(Project.id).offset(page.offset).limit(page.limit)))
            .scalars()
            .all()
        )
        return rows, total

    async def delete(self, project: Project) -> None:
        # Assignments go first and explicitly: deleting a project only removes service accounts from it. The caches
        # of the accounts it returns go (atlas_sa.changes); the caller holds the project's row lock, so no
        # assignment to it can be added meanwhile and then go unnamed by the cascade.
        removed = await self.session.execute(
            delete(ProjectAssignment)
            .where(ProjectAssignment.project_id == project.id)
            .returning(ProjectAssignment.service_account_id)
            .execution_options(**naming())
        )
        stage(self.session, [account_key(account_id) for account_id in removed.scalars()])
        await self.session.delete(project)
        await self.session.flush()
