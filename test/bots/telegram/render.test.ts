// The "Open in Parley" link of a Telegram copy: it must land on the question on the instance page,
// and it is how a Telegram reply finds its question, including copies sent before the link changed.
import { expect, test } from 'bun:test'
import { questionIdFromLinks, questionLink } from '../../../bots/telegram/render.ts'
import type { ThreadMessage } from '../../../src/core/thread.ts'
import { Message } from '../../../views/thread.tsx'

const instanceId = '0190a3c2-7b1e-7cc0-8a4e-3b2f1d0c9e8a'
const questionId = '0190a3c2-7b1f-7000-9abc-def012345678'
const instanceUrl = `https://parley.example/instances/${instanceId}`

test('the "Open in Parley" link jumps to the question on the instance page', async () => {
  const m = {
    id: questionId,
    sender: 'AGENT',
    content: 'Deploy now?',
    requiresUserInput: true,
    options: null,
    createdAt: new Date(),
    answeredAt: null,
    timeoutAt: null,
  } as unknown as ThreadMessage
  const page = await Message({ m, instanceId, access: 'OWNER', csrfToken: 'token' })
  const fragment = new URL(questionLink(instanceUrl, questionId)).hash.slice(1)
  expect(page).toContain(`id="${fragment}"`)
})

test('a reply finds its question through the link it quotes', () => {
  expect(questionIdFromLinks([questionLink(instanceUrl, questionId)])).toBe(questionId)
})

test('copies sent with the old #m- link still match their question', () => {
  expect(questionIdFromLinks([`${instanceUrl}#m-${questionId}`])).toBe(questionId)
  expect(questionIdFromLinks([`${instanceUrl}#x-${questionId}`])).toBeNull()
})
