"""Knowledge-base tables: articles, their texts per language, search phrases and steps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base


class Article(Base):
    """One troubleshooting article (language-independent part)."""

    __tablename__ = "kb_articles"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    category: Mapped[str] = mapped_column(String(20), index=True)
    topic: Mapped[str] = mapped_column(String(100))
    handoff: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    brands: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclude_brands: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_path: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    texts: Mapped[list[ArticleText]] = relationship(
        back_populates="article", cascade="all, delete-orphan", lazy="selectin"
    )
    steps: Mapped[list[Step]] = relationship(
        back_populates="article",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="(Step.position, Step.language)",
    )
    phrases: Mapped[list[Phrase]] = relationship(
        back_populates="article", cascade="all, delete-orphan", lazy="selectin"
    )


class ArticleText(Base):
    """Title and safety note of an article in one language."""

    __tablename__ = "kb_article_texts"

    article_id: Mapped[str] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    safety: Mapped[str | None] = mapped_column(Text)

    article: Mapped[Article] = relationship(back_populates="texts")


class Phrase(Base):
    """A text the search matches against: the title or one symptom phrasing, with its embedding."""

    __tablename__ = "kb_phrases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(10))  # title | symptom
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)

    article: Mapped[Article] = relationship(back_populates="phrases")


class Step(Base):
    """One troubleshooting step of an article in one language."""

    __tablename__ = "kb_steps"

    article_id: Mapped[str] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    instruction: Mapped[str] = mapped_column(Text)
    check: Mapped[str] = mapped_column(Text)
    brands: Mapped[list[str]] = mapped_column(JSON, default=list)

    article: Mapped[Article] = relationship(back_populates="steps")


class KbMeta(Base):
    """Key/value facts about the imported knowledge base (revision, embedding model)."""

    __tablename__ = "kb_meta"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
